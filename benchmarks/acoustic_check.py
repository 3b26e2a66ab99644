"""The acoustic check of near misses: the utterance alone against a full 30 s input.

    python -m benchmarks.acoustic_check [--evalset DIR]

Every near miss the matcher asks the check about on the evaluation set (a forbidden phrase
matched below its rule's threshold, from matching.acoustic_check_min_score up) is scored twice
with the same decoder: against the encoding of its utterance plus 1 s of silence (what
`etiquette.speech.acoustic_check` does) and against the utterance padded to Whisper's 30 s
input (what it did before). A near miss is true when the labels say its rule was said in that
turn. For each way: how many true and false near misses stand (loss ≤
matching.acoustic_check_max_loss), whether the two ways decide alike, and the CPU time of an
encoding. Results: acoustic_check_results.json and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.accuracy import load_labels
from benchmarks.run import machine
from etiquette.pipeline import PipelineOptions, SpeechPipeline
from etiquette.speech.acoustic_check import AcousticVerifier
from etiquette.speech.audio import read_audio
from etiquette.speech.recogniser import RecogniserOptions
from etiquette.speech.segmenter import segment

HERE = Path(__file__).resolve().parent


class FullInput(AcousticVerifier):
    """The same check with the utterance padded to a whole 30 s input (the comparison)."""

    def _encode(self, audio: np.ndarray) -> tuple[Any, int]:
        from faster_whisper.audio import pad_or_trim

        features = self._model.feature_extractor(audio)[..., :-1]
        return self._model.encode(pad_or_trim(features)), min(features.shape[-1], 3000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evalset", type=Path, default=HERE / "evalset")
    parser.add_argument("--threads", type=int, default=1, help="CTranslate2 threads")
    parser.add_argument("--out", type=Path, default=HERE / "acoustic_check_results.json")
    args = parser.parse_args(argv)
    truths = load_labels(args.evalset / "labels.yaml")
    speech = SpeechPipeline(PipelineOptions(recogniser=RecogniserOptions(cpu_threads=args.threads)))
    full = FullInput(speech.recogniser.model)
    limit = speech.rules.matching.acoustic_check_max_loss
    rows: list[dict[str, Any]] = []
    for n, (name, truth) in enumerate(truths.items(), 1):
        print(f"[{n}/{len(truths)}] {name}", file=sys.stderr, flush=True)
        utterances = [u for u in segment(read_audio(args.evalset / name), name, name)
                      if u.speaker in speech.rules.judged_speakers]
        transcripts, _ = speech.recognise(utterances)
        for u, t in zip(utterances, transcripts, strict=True):
            asked: list[Any] = []  # what the matcher asks the check about (near misses)
            speech.matcher.forbidden(t, check=lambda _, hit, asked=asked: asked.append(hit) or 0.0)
            for hit in asked:
                said = any(hit.rule_id in turn.expect and turn.start - 1 < t.end_s
                           and t.start_s < turn.end + 1 for turn in truth.turns)
                row: dict[str, Any] = {"file": name, "rule": hit.rule_id, "text": t.text,
                                       "phrase": hit.variant, "true": said}
                for way, verifier in (("utterance", speech.verifier), ("full_input", full)):
                    fresh = np.array(u.audio)  # a new array: no cached encoding is reused
                    started = time.process_time()
                    row[way] = round(verifier.loss(fresh, t.text, hit.char_start, hit.char_end,
                                                   hit.variant), 2)
                    row[f"{way}_cpu_ms"] = round((time.process_time() - started) * 1000, 1)
                rows.append(row)
    summary = {}
    for way in ("utterance", "full_input"):
        stands = [r for r in rows if r[way] <= limit]
        summary[way] = {"true_stand": sum(r["true"] for r in stands),
                        "false_stand": sum(not r["true"] for r in stands),
                        "cpu_ms_mean": round(statistics.fmean(r[f"{way}_cpu_ms"] for r in rows), 1)
                        if rows else None}
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": machine(), "threads": args.threads, "max_loss": limit,
               "near_misses": len(rows), "true_near_misses": sum(r["true"] for r in rows),
               "decided_alike": sum((r["utterance"] <= limit) == (r["full_input"] <= limit)
                                    for r in rows),
               "summary": summary, "rows": rows}
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


def markdown(r: dict[str, Any]) -> str:
    m = r["machine"]
    lines = ["# Acoustic check: the utterance alone against a full 30 s input", "",
             f"Written by `python -m benchmarks.acoustic_check` on {r['date']}: {m['cores']} cores "
             f"({m['cpu']}), Whisper base int8, {r['threads']} CTranslate2 thread(s). "
             f"{r['near_misses']} near misses on the evaluation set, {r['true_near_misses']} of "
             f"them a forbidden phrase really said (the rest polite look-alikes and other "
             f"speech); a near miss stands at a loss of at most {r['max_loss']} nats.", "",
             "| encoder input | true near misses that stand | false ones that stand | "
             "CPU per check (ms) |", "| --- | ---: | ---: | ---: |"]
    for way, label in (("utterance", "the utterance + 1 s (etiquette.speech.acoustic_check)"),
                       ("full_input", "padded to 30 s (before)")):
        s = r["summary"][way]
        lines.append(f"| {label} | {s['true_stand']} of {r['true_near_misses']} | "
                     f"{s['false_stand']} of {r['near_misses'] - r['true_near_misses']} | "
                     f"{s['cpu_ms_mean']} |")
    lines += ["", f"Both ways decide alike on {r['decided_alike']} of {r['near_misses']} near "
                  f"misses.", "", "True near misses (losses in nats):", "",
              "| file | rule | transcript | phrase | utterance | 30 s input |",
              "| --- | --- | --- | --- | ---: | ---: |"]
    lines += [f"| {x['file']} | {x['rule']} | {x['text']} | {x['phrase']} | {x['utterance']} | "
              f"{x['full_input']} |" for x in r["rows"] if x["true"]]
    close = sorted((x for x in r["rows"] if not x["true"]), key=lambda x: x["utterance"])[:5]
    lines += ["", "The false near misses closest to standing:", "",
              "| file | rule | transcript | phrase | utterance | 30 s input |",
              "| --- | --- | --- | --- | ---: | ---: |"]
    lines += [f"| {x['file']} | {x['rule']} | {x['text']} | {x['phrase']} | {x['utterance']} | "
              f"{x['full_input']} |" for x in close]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
