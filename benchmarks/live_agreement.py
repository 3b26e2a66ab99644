"""Live against batch on the held-out set: each recording of a half fed to a live window as fast
as it is read, and the same files through `etiquette batch`, both scored against the labels.

    .venv/bin/python -m benchmarks.live_agreement --half blind14 --condition natural --layout mono

A live window on one microphone tells staff from citizen as the session grows (each utterance
when it is transcribed, the greeting judged once its time is over); batch tells them over the
whole recording. Both judge with the same rules and matcher, so where the two disagree is where
live differs. Both are the real paths: batch is the CLI over the files (as `benchmarks.heldout`
runs it), live the segmenter, recogniser worker, attribution and acoustic check of a live
window. Results go to benchmarks/live_agreement_results.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import yaml

from benchmarks.accuracy import score, truths_of
from benchmarks.heldout import HALVES, greeting_farewell
from benchmarks.run import machine, run_batch
from etiquette.core.matching import AcousticCheck
from etiquette.core.records import SAMPLE_RATE, Incident, Transcript, Utterance
from etiquette.live.recognition import SharedRecogniser
from etiquette.live.window import WindowMonitor
from etiquette.pipeline import PipelineOptions, SpeechPipeline
from etiquette.speech.audio import read_audio
from etiquette.speech.recogniser import Recogniser, RecogniserOptions

HERE = Path(__file__).resolve().parent
STARTED = datetime(2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # within service hours
BLOCK = SAMPLE_RATE // 10  # 0.1 s, as a sound card delivers it


def live_incidents(path: Path, speech: SpeechPipeline, recogniser: Recogniser, spool: Path,
                   timeout_s: float = 600.0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A live window's incidents for the recording and what it heard, once every utterance is
    transcribed and the session closed."""
    heard: list[Transcript] = []

    def recognise(utterances: list[Utterance]) -> tuple[list[Transcript], AcousticCheck]:
        transcripts, check = speech.recognise(utterances)
        heard.extend(transcripts)  # as transcribed: a voice on one microphone not yet told
        return transcripts, check

    shared = SharedRecogniser(recogniser, spool_dir=spool, recognise=recognise)
    emitted: list[Incident] = []
    audio = read_audio(path)
    monitor = WindowMonitor(path.stem, len(audio.channels), STARTED, speech, shared,
                            lambda i, spoken: emitted.append(i), None)
    shared.start()
    try:
        blocks = np.stack(audio.channels, axis=1)
        for i in range(0, len(blocks), BLOCK):
            monitor.feed(blocks[i:i + BLOCK])
        monitor.finish(ended=True)
        deadline = time.monotonic() + timeout_s
        while monitor.stats.outstanding and time.monotonic() < deadline:
            time.sleep(0.05)
        if monitor.stats.outstanding:
            raise RuntimeError(f"{path.name}: {monitor.stats.outstanding} utterances not "
                               f"transcribed after {timeout_s:.0f} s")
    finally:
        shared.stop()
    found = [{**i.to_json(), "source": path.name} for i in emitted]
    return found, [{**t.to_json(), "source": path.name} for t in heard]


def _figures(labels: dict[str, Any], incidents: list[dict[str, Any]],
             transcripts: list[dict[str, Any]]) -> dict[str, Any]:
    scored = score(truths_of(labels["files"]), incidents)
    return {"forbidden": scored["by_kind"].get("forbidden_phrase"),
            "greeting_farewell": greeting_farewell(labels, incidents, transcripts),
            "citizen_flags": scored["citizen_flags"], "errors": scored["errors"]}


def evaluate(half: str, condition: str, layout: str, limit: int | None) -> dict[str, Any]:
    folder = HERE / "heldout" / half / condition
    labels = yaml.safe_load((folder / "labels.yaml").read_text(encoding="utf-8"))
    files = sorted(f for f, e in labels["files"].items()
                   if layout == "all" or e.get("layout", "stereo") == layout)[:limit]
    labels = {**labels, "files": {f: labels["files"][f] for f in files}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in files:
            (Path(tmp) / name).symlink_to(folder / name)
        batch = run_batch(Path(tmp), 2, 5, "whisper-base", transcripts=True)
    speech = SpeechPipeline(PipelineOptions())
    recogniser = Recogniser(RecogniserOptions())
    live: list[dict[str, Any]] = []
    heard: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for n, name in enumerate(files, 1):
            found, said = live_incidents(folder / name, speech, recogniser, Path(tmp) / name)
            live += found
            heard += said
            print(f"  {n}/{len(files)} {name}: {len(found)} incidents", file=sys.stderr)
    return {"half": half, "condition": condition, "layout": layout, "files": len(files),
            "live_wall_s": round(time.perf_counter() - started, 1),
            "batch_wall_s": batch["wall_s"],
            "batch": _figures(labels, batch["incidents"], batch["transcripts"]),
            "live": _figures(labels, live, heard)}


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["# Live against batch on the held-out set", "",
             "Written by `python -m benchmarks.live_agreement` (see its docstring): each "
             "recording through `etiquette batch` and fed to a live window as fast as it is "
             "read, both scored against the half's labels.", "",
             "| half | condition | layout | files | path | forbidden P / R (TP, FP, FN) | "
             "greeting | farewell | citizen turns flagged |",
             "| --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: |"]
    for r in results:
        for path in ("batch", "live"):
            f, g = r[path]["forbidden"] or {}, r[path]["greeting_farewell"]
            lines.append(
                f"| {r['half']} | {r['condition']} | {r['layout']} | {r['files']} | {path} | "
                f"{f.get('precision')} / {f.get('recall')} ({f.get('tp')}, {f.get('fp')}, "
                f"{f.get('fn')}) | {g['greeting']} | {g['farewell']} | "
                f"{r[path]['citizen_flags']} |")
    for r in results:
        for path in ("batch", "live"):
            wrong = r[path]["greeting_farewell"]["errors"]
            if not wrong:
                continue
            lines += ["", f"## {r['half']} {r['condition']} {r['layout']}: {path}, greeting/"
                      f"farewell decided wrongly ({len(wrong)})", "",
                      "| file | phrase | error | script | heard |",
                      "| --- | --- | --- | --- | --- |"]
            lines += [f"| {w['file']} | {w['phrase']} | {w['error']} | {w['script']} | "
                      f"{w['heard'][:160]} |" for w in wrong]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--half", choices=HALVES, action="append", required=True,
                        help="repeatable")
    parser.add_argument("--condition", choices=("natural", "espeak", "noise10"),
                        default="natural")
    parser.add_argument("--layout", choices=("mono", "stereo", "all"), default="mono")
    parser.add_argument("--limit", type=int, help="the first N files of each half only")
    parser.add_argument("--out", type=Path, default=HERE / "live_agreement_results.json")
    args = parser.parse_args(argv)
    results = []
    for half in args.half:
        print(f"{half}/{args.condition} ({args.layout}) …", file=sys.stderr)
        results.append(evaluate(half, args.condition, args.layout, args.limit))
    payload = {"written": datetime.now(STARTED.tzinfo).isoformat(timespec="minutes"),
               "machine": machine("cpu", "int8"), "results": results}
    args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n",
                        encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
