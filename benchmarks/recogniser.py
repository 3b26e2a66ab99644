"""The project's recogniser against raw batched faster-whisper on the same audio, same run.

    python -m benchmarks.recogniser [--seconds 420] [--beam-size 1 --beam-size 5]

The audio is a fixed stretch of continuous Mandarin: the evaluation set's recordings mixed to
mono and joined until `--seconds`. Raw faster-whisper runs `BatchedInferencePipeline` with its
own Silero VAD; the project runs its segmenter and `Recogniser` (packed utterances, batched).
Both decode with the same model, beam, batch size, threads and word timestamps. They take
turns, `--repeat` times each, so that a change in the load of a shared machine falls on both;
the fastest run of each is reported (timeit's convention: the minimum is the least disturbed
by the rest of the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.run import machine, setup
from etiquette.core.records import SAMPLE_RATE
from etiquette.speech.audio import read_audio
from etiquette.speech.recogniser import Recogniser, RecogniserOptions
from etiquette.speech.segmenter import segment

HERE = Path(__file__).resolve().parent


def continuous_audio(evalset: Path, seconds: float) -> np.ndarray:
    pieces, total = [], 0
    for path in sorted(evalset.glob("eval*.*")):
        audio = read_audio(path)
        mono = np.mean(np.stack(audio.channels), axis=0).astype(np.float32)
        pieces.append(mono)
        total += len(mono)
        if total >= seconds * SAMPLE_RATE:
            break
    return np.concatenate(pieces)[: int(seconds * SAMPLE_RATE)]


def _fastest_in_turn(fns: list[Any], repeat: int) -> list[tuple[float, Any]]:
    """Each of `fns` run in turn, `repeat` rounds, the order reversed every other round (the
    first run of all is the coldest): the fastest time of each and its result."""
    best: list[tuple[float, Any]] = [(float("inf"), None)] * len(fns)
    for round_ in range(repeat):
        order = list(enumerate(fns))
        for i, fn in order[::-1] if round_ % 2 else order:
            started = time.perf_counter()
            result = fn()
            best[i] = min(best[i], (time.perf_counter() - started, result), key=lambda b: b[0])
    return best


def measure(audio: np.ndarray, beam: int, batch_size: int, threads: int, repeat: int,
            recogniser: Recogniser) -> dict[str, Any]:
    from faster_whisper import BatchedInferencePipeline

    pipeline = BatchedInferencePipeline(recogniser.model)
    duration = len(audio) / SAMPLE_RATE

    def raw() -> int:
        segments, _ = pipeline.transcribe(audio, language="zh", beam_size=beam,
                                          batch_size=batch_size, word_timestamps=True,
                                          without_timestamps=False, temperature=0.0)
        return sum(len(s.text) for s in segments)

    def ours() -> int:
        utterances = segment(_as_decoded(audio), "bench", "bench")
        return sum(len(t.text) for t in recogniser.transcribe(utterances))

    (raw_s, raw_chars), (ours_s, ours_chars) = _fastest_in_turn([raw, ours], repeat)
    return {"beam_size": beam, "batch_size": batch_size, "threads": threads,
            "raw_x_realtime": round(duration / raw_s, 1),
            "ours_x_realtime": round(duration / ours_s, 1),
            "ratio": round(raw_s / ours_s, 2), "raw_chars": raw_chars, "ours_chars": ours_chars}


def _as_decoded(audio: np.ndarray) -> Any:
    from etiquette.speech.audio import DecodedAudio

    return DecodedAudio((audio,), 1)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evalset", type=Path, default=HERE / "evalset")
    parser.add_argument("--seconds", type=float, default=420.0)
    parser.add_argument("--beam-size", type=int, action="append")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="CTranslate2 CPU threads (default: every core)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--compute-type", default="int8",
                        help="CTranslate2 compute type "
                             "(int8 on CPU; float16 or int8_float16 on a GPU)")
    parser.add_argument("--repeat", type=_positive, default=2,
                        help="rounds; the fastest of each is reported (default 2)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--out", type=Path, default=HERE / "recogniser_results.json")
    args = parser.parse_args(argv)

    audio = continuous_audio(args.evalset, args.seconds)
    rows = []
    for beam in args.beam_size or [1, 5]:
        recogniser = Recogniser(RecogniserOptions(model=args.model, device=args.device,
                                                  compute_type=args.compute_type, beam_size=beam,
                                                  batch_size=args.batch_size,
                                                  cpu_threads=args.threads))
        rows.append(measure(audio, beam, args.batch_size, args.threads, args.repeat, recogniser))
        print(rows[-1], file=sys.stderr)
    results = {"audio_s": round(len(audio) / SAMPLE_RATE, 1), "model": args.model,
               "machine": machine(args.device, args.compute_type), "repeat": args.repeat,
               "rows": rows}
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    return 0


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = ["# Recogniser against raw faster-whisper", "",
             f"{results['audio_s']:.0f} s of continuous Mandarin (evaluation set mixed to mono); "
             f"{setup(m, results['model'])}; fastest of {results['repeat']} runs.",
             "", "| beam | batch | threads | raw batched faster-whisper (× real time) | "
             "etiquette recogniser (× real time) | ratio | characters: raw / etiquette |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['beam_size']} | {r['batch_size']} | {r['threads']} | {r['raw_x_realtime']} | "
              f"{r['ours_x_realtime']} | {r['ratio']} | {r['raw_chars']} / {r['ours_chars']} |"
              for r in results["rows"]]
    lines += ["",
              "Where the gap comes from (the 2-core machine, 420 s: 114 utterances, 359 s of "
              "them; profiled 2026-12-04): raw faster-whisper decodes 14 inputs; the "
              "recogniser 16 for the same speech, packed in time order with 0.5 s between "
              "utterances (the last, part-filled, encoded at its own length), then a second "
              "pass over the utterances Whisper skipped inside a packed input (7 at beam 5, 5"
              " at beam 1), whose words raw faster-whisper loses (hence about 9 % more "
              "characters, each a decoder step more): one more input of them all, and alone "
              "those still empty after it (1 at beam 1). The second pass costs about 2 s at "
              "beam 5, where a lone input's beam search gets none of a batch's economies, and"
              " about 1.4 s at beam 1. Leaving each utterance's quiet edges out (5ad5e55) "
              "took the 16 inputs to 15 but cost forbidden-phrase recall on the held-out set "
              "(0.987 to 0.937: Whisper heard first syllables worse) and was reverted "
              "(e93a006). The recogniser also identifies each utterance's language on its own"
              " encoder frames (for the non-Mandarin check): one decoder step of about 11 ms "
              "per utterance, 1.3-2.7 s for the 114-125 decoded, which raw faster-whisper "
              "does not do. All three were kept for accuracy (benchmarks/optimisations.md). "
              "Raw and ours take turns; runs on a shared machine still vary by about ±10 % "
              "(more while others ran beside them)."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
