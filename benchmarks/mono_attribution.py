"""Speaker attribution on one microphone, per utterance, against the scripts' speakers:

    python -m benchmarks.mono_attribution benchmarks/voice_checks/tune benchmarks/apology/tune
    python -m benchmarks.mono_attribution ... --option separation_low=3 --option separation_high=5
    python -m benchmarks.mono_attribution ... -v        # every utterance, with its reason

The mono sessions (labels' `channels: 1`) of each set are segmented and transcribed as batch
does (default options), once: utterances, their audio and transcripts are kept in --cache, so
that the attribution can be weighed again in a second. Each utterance is the script's speaker
whose turns hold 80 % of it, else `mixed`. Prints, per set, what the attributor decided for
each true speaker, the reasons given where a staff line was left unknown, how far apart the
scripts' own staff/citizen split is in the units `cluster_voices` measures (what any voice
split could reach with these features) and, with voiceprints, in `cluster_voiceprints`' units,
and what attributing cost (the voiceprints are most of it). `--option use_voiceprint=0` weighs
the signal features alone, as before the voiceprints. Results: benchmarks/results.md, "One
microphone".
"""

from __future__ import annotations

import argparse
import pickle
import re
import resource
import time
from collections import Counter
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from etiquette.core.records import Utterance
from etiquette.pipeline import SpeechPipeline
from etiquette.speech import speakers, voiceprint
from etiquette.speech.audio import read_audio
from etiquette.speech.segmenter import segment

MAJORITY = 0.8  # share of an utterance inside one speaker's turns for it to be that speaker's


def truth(u: Utterance, turns: list[dict[str, Any]]) -> str:
    heard: Counter[str] = Counter()
    for t in turns:
        overlap = min(u.end_s, t["end_s"]) - max(u.start_s, t["start_s"])
        if overlap > 0:
            heard[t["speaker"]] += overlap
    if not heard:
        return "none"
    who, most = heard.most_common(1)[0]
    return str(who) if most / sum(heard.values()) >= MAJORITY else "mixed"


def sessions(folders: list[Path], cache: Path) -> dict[str, dict[str, Any]]:
    """Each mono session's utterances, the transcribed ones and their transcripts, and labels."""
    found: dict[str, dict[str, Any]] = pickle.loads(cache.read_bytes()) if cache.exists() else {}
    pipeline: SpeechPipeline | None = None
    for folder in folders:
        labels = yaml.safe_load((folder / "labels.yaml").read_text(encoding="utf-8"))["files"]
        for name, label in labels.items():
            key = str(folder / name)
            if label.get("channels") != 1 or key in found:
                continue
            pipeline = pipeline or SpeechPipeline()
            utterances = segment(read_audio(folder / name), key, Path(name).stem,
                                 pipeline.options.segmenter)
            judged = [u for u in utterances if u.speaker in pipeline.rules.judged_speakers]
            heard, _ = pipeline.recognise(judged)
            found[key] = {"judged": judged, "heard": heard, "turns": label["turns"]}
            cache.write_bytes(pickle.dumps(found))
    return found


def true_separation(attributor: speakers.SpeakerAttributor, session: dict[str, Any]
                    ) -> float | None:
    """The separation of the script's staff/citizen split, as `cluster_voices` measures one."""
    rows = [(f, who) for u in session["judged"]
            if (f := attributor.features(u)) is not None
            and (who := truth(u, session["turns"])) in ("staff", "citizen")]
    if len({who for _, who in rows}) < 2:
        return None
    x = np.stack([speakers._vector(f, True) for f, _ in rows])
    w = np.clip(np.array([f.voiced_s for f, _ in rows]) / 0.8, 0.1, 1.0)
    label = np.array([0 if who == "staff" else 1 for _, who in rows])
    sd = speakers._PRIOR_SD
    means = np.stack([np.average(x[label == k], axis=0, weights=w[label == k]) for k in (0, 1)])
    var = ((speakers._PRIOR_WEIGHT * sd ** 2 + (w[:, None] * (x - means[label]) ** 2).sum(axis=0))
           / (speakers._PRIOR_WEIGHT + w.sum()))
    var = np.maximum(var, speakers._VAR_FLOOR * sd ** 2)
    return float(np.sqrt(((means[0] - means[1]) ** 2 / var).sum()))


def true_voiceprint_separation(attributor: speakers.SpeakerAttributor,
                               session: dict[str, Any]) -> float | None:
    """The same, in the units `cluster_voiceprints` measures a split by voiceprints."""
    rows = [(f, who) for u in session["judged"]
            if (f := attributor.features(u)) is not None and f.voiceprint is not None
            and (who := truth(u, session["turns"])) in ("staff", "citizen")]
    if len({who for _, who in rows}) < 2:
        return None
    x = np.stack([f.voiceprint for f, _ in rows if f.voiceprint is not None])
    w = np.clip(np.array([f.voiced_s for f, _ in rows]) / 0.8, 0.1, 1.0)
    label = np.array([0 if who == "staff" else 1 for _, who in rows])
    return speakers.voiceprint_split(list(range(len(rows))), x, w, label).separation


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/mono_attribution.pkl"))
    ap.add_argument("--option", action="append", default=[],
                    help="AttributionOptions field=value (floats), weighed instead of the default")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args(argv)
    names = {f.name for f in fields(speakers.AttributionOptions)}
    changes = {}
    for item in a.option:
        name, value = item.split("=", 1)
        if name not in names:
            ap.error(f"no option {name}")
        changes[name] = float(value)
    options = replace(speakers.AttributionOptions(), **changes)
    load_s = 0.0
    if options.use_voiceprint:
        started = time.perf_counter()
        voiceprint.shared_encoder()
        load_s = time.perf_counter() - started
    attributor = speakers.SpeakerAttributor(options)
    attributing_s, attributed = 0.0, 0
    table: Counter[tuple[str, str, str]] = Counter()
    reasons: Counter[tuple[str, str]] = Counter()
    for key, session in sessions(a.folders, a.cache).items():
        group = str(Path(key).parent)
        started = time.perf_counter()
        answers = attributor.attribute(session["judged"], session["heard"])
        attributing_s += time.perf_counter() - started
        attributed += len(answers)
        if a.verbose:
            print(f"== {key}")
        for u, t, answer in zip(session["judged"], session["heard"], answers, strict=True):
            who = truth(u, session["turns"])
            table[(group, who, answer.speaker.value)] += 1
            if who == "staff" and answer.speaker.value == "unknown":
                reasons[(group, re.sub(r"（偏向.*|[0-9.]+", "", answer.reason))] += 1
            if a.verbose:
                print(f"  {u.start_s:6.1f}-{u.end_s:6.1f} {who:8s} {answer.speaker.value:8s} "
                      f"{t.text[:24]!r} | {answer.reason}")
        separations = [true_separation(attributor, session)]
        if options.use_voiceprint:
            separations.append(true_voiceprint_separation(attributor, session))
        print(f"{Path(key).name}: the script's split at "
              + " / ".join(f"{s:.1f}" if s is not None else "-" for s in separations))
    for group in sorted({g for g, _, _ in table}):
        print(f"\n{group}")
        for who in ("staff", "citizen", "mixed"):
            row = {got: table[(group, who, got)] for got in ("staff", "unknown", "citizen")}
            print(f"  {who:8s} " + "  ".join(f"-> {got} {n}" for got, n in row.items()))
        for (g, reason), n in sorted(reasons.items()):
            if g == group:
                print(f"  staff left unknown {n}: {reason}")
    # Each utterance's features are computed once (the first call), as batch does per session.
    print(f"\ncost: {attributed} utterances attributed in {attributing_s:.1f} s "
          f"({1000 * attributing_s / max(attributed, 1):.0f} ms each, features included); "
          f"voice encoder loaded in {load_s:.2f} s; peak memory "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
