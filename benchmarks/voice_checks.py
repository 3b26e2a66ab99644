"""Tuning aid for the voice checks (fast_speech, raised_voice) on benchmarks/voice_checks/<half>:
what the checks measured on every staff utterance, and how precision and recall move with
their thresholds.

    .venv/bin/python -m benchmarks.voice_checks --half tune

The figures to report come from `python -m benchmarks.checks benchmarks/voice_checks/<half>`
(the real `etiquette batch`); this runs the same batch pipeline in-process (SpeechPipeline:
segmenter, recogniser, speaker attribution, loudness, the checks of rules/checks.yaml), keeps
each session as the checks saw it, and re-judges it with other thresholds, scored as
benchmarks.checks scores. Tune on `tune` only. Writes benchmarks/voice_checks_<half>_tuning.json
(per staff utterance: text heard, characters per minute, seconds timed, LUFS).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

import etiquette.pipeline as pipeline_module
from benchmarks.checks import score
from etiquette.core.checks.base import CheckRule, SessionView
from etiquette.core.checks.rules import CheckRules
from etiquette.core.checks.voice import speech_rate
from etiquette.core.records import Incident, Speaker
from etiquette.pipeline import PipelineOptions, SpeechPipeline
from etiquette.speech.recogniser import RecogniserOptions

HERE = Path(__file__).resolve().parent
SET = HERE / "voice_checks"
TRIALS = {"fast_speech": ("max_chars_per_min", (330, 350, 360, 370, 380, 390, 400, 420)),
          "raised_voice": ("min_rise_lu", (5, 6, 7, 8, 9, 10))}


def measured(view: SessionView) -> list[dict[str, Any]]:
    """What the checks measured on each staff utterance of a session."""
    out = []
    for t in view.of(Speaker.STAFF):
        rate = speech_rate(t.transcript) if t.transcript is not None else None
        out.append({"start_s": t.start_s, "end_s": t.end_s, "text": t.text,
                    "chars_per_min": round(rate[0]) if rate else None,
                    "speech_s": round(rate[1], 2) if rate else None,
                    "lufs": round(t.loudness_lufs, 1) if t.loudness_lufs is not None else None})
    return out


def sweep(labels: dict[str, Any], views: dict[str, SessionView], checks: CheckRules) -> list[str]:
    """Each kind's precision and recall (and recall on one and two microphones) as its
    threshold moves, its other fields as configured."""
    lines = []
    for kind, (field, values) in TRIALS.items():
        check: CheckRule | None = getattr(checks, kind)
        if check is None:
            continue
        for value in values:
            trial = check.model_copy(update={field: value})
            found = [i.to_json() for v in views.values() for i in trial.judge(v)]
            s = score(labels, found, {kind}, [])
            k = s["per_kind"][kind]
            missed = [labels[m["file"]]["layout"] for m in s["misses"]]
            lines.append(f"{kind} {field}={value}: P {k['precision']} R {k['recall']} "
                         f"(tp {k['tp']}, fp {k['fp']}, fn {k['fn']}: {missed.count('stereo')} "
                         f"stereo, {missed.count('mono')} mono)")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--half", choices=("tune", "test"), default="tune")
    a = ap.parse_args(argv)
    folder = SET / a.half
    labels = yaml.safe_load((folder / "labels.yaml").read_text(encoding="utf-8"))["files"]
    pipe = SpeechPipeline(PipelineOptions(recogniser=RecogniserOptions(cpu_threads=2)))
    views: dict[str, SessionView] = {}
    judge = pipeline_module.judge_checks

    def keep(rules: CheckRules, view: SessionView) -> list[Incident]:  # the sessions seen
        views[Path(view.source).name] = view
        return judge(rules, view)

    pipeline_module.judge_checks = keep  # type: ignore[assignment]
    for file in labels:
        pipe.analyse(folder / file)
        print(f"{file} analysed", file=sys.stderr)
    (HERE / f"voice_checks_{a.half}_tuning.json").write_text(
        json.dumps({f: measured(v) for f, v in views.items()}, ensure_ascii=False, indent=1),
        encoding="utf-8")
    print("\n".join(sweep(labels, views, pipe.checks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
