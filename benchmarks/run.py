"""One command for the speech-path benchmark: accuracy, speed and memory of `etiquette batch`.

    python -m benchmarks.run                 # the generated evaluation set, default settings
    python -m benchmarks.run --beam-size 1 --jobs 1 --jobs 2

Each configuration runs the real CLI in a child process over the whole set, timed by wall
clock with the peak resident memory of the process tree sampled every 50 ms; its incidents
are scored against the labels written by the script that made the audio. Results go to
results.json and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.accuracy import load_labels, score
from etiquette.speech.recogniser import threads_per_job

HERE = Path(__file__).resolve().parent
DEFAULT_SET = HERE / "evalset"


def _peak_rss(proc: psutil.Process, stop: threading.Event, peak: list[int]) -> None:
    while not stop.is_set():
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss
                                               for c in proc.children(recursive=True))
            peak[0] = max(peak[0], rss)
        except psutil.Error:
            pass
        stop.wait(0.05)


def run_batch(evalset: Path, jobs: int, beam_size: int, model: str,
              transcripts: bool = False, extra: list[str] | None = None) -> dict[str, Any]:
    """The CLI over the whole set in a child process: wall time, peak memory, incidents (and,
    with `transcripts`, every transcript the run wrote); `extra`: more options of the CLI."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "incidents.jsonl"
        cmd = [sys.executable, "-m", "etiquette.cli", "batch", str(evalset), "--out", str(out),
               "--jobs", str(jobs), "--beam-size", str(beam_size), "--model", model]
        if transcripts:
            cmd += ["--transcripts", str(Path(tmp) / "transcripts.jsonl")]
        cmd += extra or []
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        stop, peak = threading.Event(), [0]
        sampler = threading.Thread(target=_peak_rss, args=(psutil.Process(proc.pid), stop, peak))
        sampler.start()
        _, stderr = proc.communicate()
        wall = time.perf_counter() - started
        stop.set()
        sampler.join()
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"etiquette batch failed ({proc.returncode}):\n{stderr}")
        incidents = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
        said = ([json.loads(line) for line in (Path(tmp) / "transcripts.jsonl").read_text(
            encoding="utf-8").splitlines()] if transcripts else None)
    result = {"wall_s": round(wall, 2), "peak_rss_mb": round(peak[0] / 2**20, 1),
              "incidents": incidents,
              "failed_files": [i for i in incidents if i["kind"] == "error"]}
    if said is not None:
        result["transcripts"] = said
    return result


def machine(device: str = "cpu", compute_type: str = "int8") -> dict[str, Any]:
    import ctranslate2
    import faster_whisper

    info = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(), "ctranslate2": ctranslate2.__version__,
            "faster_whisper": faster_whisper.__version__, "device": device,
            "compute_type": compute_type}
    if device == "cuda":
        info["gpu"] = gpu_name()
    return info


def setup(m: dict[str, Any], model: str) -> str:
    """The machine and model of a results file's heading: "2 cores (x86_64), 23.5 GB,
    CTranslate2 …, faster-whisper …, model `whisper-base` int8 on cpu" (or "on cuda (NVIDIA
    H200)")."""
    where = f"{m['device']} ({m['gpu']})" if m.get("gpu") else m["device"]
    return (f"{m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, "
            f"CTranslate2 {m['ctranslate2']}, faster-whisper {m['faster_whisper']}, "
            f"model `{model}` {m['compute_type']} on {where}")


def gpu_name() -> str:
    """The GPU's marketing name as the driver reports it (CTranslate2 does not expose it)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown GPU"
    return out.strip().splitlines()[0] if out.strip() else "unknown GPU"


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = [
        "# Speech-path benchmark",
        "",
        f"Written by `python -m benchmarks.run` on {results['date']}: "
        f"{setup(m, results['model'])}.",
        f"Evaluation set: `{results['evalset']}`, {results['files']} recordings, "
        f"{results['audio_s'] / 60:.1f} min of audio.",
        "",
        "## Speed and memory (`etiquette batch`, whole process, model load included)",
        "",
        "| jobs | beam | threads/job | wall (s) | × real time | peak memory (MB) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["runs"]:
        lines.append(f"| {r['jobs']} | {r['beam_size']} | {r['threads_per_job']} | {r['wall_s']} | "
                     f"{r['x_realtime']} | {r['peak_rss_mb']} |")
    for r in results["runs"]:
        acc = r["accuracy"]
        lines += ["", f"## Accuracy (jobs {r['jobs']}, beam {r['beam_size']})", "",
                  "| incident kind | TP | FP | FN | precision | recall |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {k} | {v['tp']} | {v['fp']} | {v['fn']} | {v['precision']} | {v['recall']} |"
                  for k, v in acc["by_kind"].items()]
        lines += ["", "| staff voice, incident kind | TP | FP | FN | precision | recall |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {k} | {v['tp']} | {v['fp']} | {v['fn']} | {v['precision']} | {v['recall']} |"
                  for k, v in acc["by_voice"].items()]
        lines += ["", "| forbidden rule | TP | FP | FN | precision | recall |",
                  "| --- | ---: | ---: | ---: | ---: | ---: |"]
        lines += [f"| {k} | {v['tp']} | {v['fp']} | {v['fn']} | {v['precision']} | {v['recall']} |"
                  for k, v in acc["by_rule"].items()]
        lines += ["", f"Polite look-alike turns: {acc['look_alike_turns']}, flagged: "
                  f"{acc['look_alike_flags']}. Forbidden words said by citizens flagged: "
                  f"{acc['citizen_flags']}. False flags by place: {acc['false_flags'] or 'none'}."]
    lines += heldout_summaries()
    return "\n".join(lines) + "\n"


def heldout_summaries() -> list[str]:
    """The held-out set's figures (benchmarks.heldout), each half as last measured."""
    from benchmarks.heldout import summary

    lines = []
    for half, what in (("tune", "the half the rules were tuned on"),
                       ("test", "run once after the first round of tuning; the second round "
                                "read its failures, so it is no longer unseen"),
                       ("fresh", "written blind by someone who never read the rules, run once "
                                 "after the second round of tuning"),
                       ("unseen", "written blind later still, with voices and a hall no half "
                                  "had, run once"),
                       ("blind3", "written blind, with voices and a hall of its own, run once; "
                                  "its failures were read for the matcher change of 2026-12-04, "
                                  "so it is no longer unseen"),
                       ("blind4", "written blind while that change was made, with voices and a "
                                  "hall of its own, run once with it; read for the second change"),
                       ("blind5", "written blind while the second change was made, with voices "
                                  "and a hall of its own, run once with it by someone who did "
                                  "not write it"),
                       ("blind6", "written blind while the third change was made, run once "
                                  "with it"),
                       ("blind7", "written blind after the greeting frame, run once"),
                       ("blind8", "written blind while F1-2 and the greeting frame were widened, "
                                  "run once after them"),
                       ("blind9", "written blind after that, run once"),
                       ("blind10", "written blind while the meaning model was built, run once "
                                   "with it"),
                       ("blind11", "written blind while the model's written sentences were "
                                   "added, run once with them"),
                       ("blind12", "written blind, run once after the changes to the turn "
                                   "(56885f8)"),
                       ("blind13", "written blind, run once after a phrase heard in an "
                                   "utterance ending with its part was no longer lost "
                                   "(d57668f)"),
                       ("blind14", "written blind, run once after a greeting word alone from "
                                   "the staff became a greeting (5995ca1)"),
                       ("blind15", "written blind, run once with the greeting words alone "
                                   "and the heard sentences (13f42e4)"),
                       ("blind16", "written blind while the rules and the matcher were "
                                   "changed in the same checkout, run once by someone "
                                   "who did not write it")):
        path = HERE / f"heldout_{half}_results.json"
        if path.exists():
            results = json.loads(path.read_text(encoding="utf-8"))
            lines += ["", f"## Held-out set, {half} half ({what})", "",
                      "Written without reading the rules (`benchmarks/heldout/README.md`); "
                      f"every miss and false flag: `benchmarks/heldout_{half}_results.md`.", "",
                      *summary(results)]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--evalset", type=Path, default=DEFAULT_SET,
                        help="folder with recordings and labels.yaml")
    parser.add_argument("--jobs", type=int, action="append",
                        help="files at a time (repeatable; default 2)")
    parser.add_argument("--beam-size", type=int, action="append",
                        help="beam widths (repeatable; default 5)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--out", type=Path, default=HERE / "results.json",
                        help="results file (.json; .md beside it)")
    args = parser.parse_args(argv)

    truths = load_labels(args.evalset / "labels.yaml")
    audio_s = 0.0
    from etiquette.speech.audio import read_audio

    for name in truths:
        audio_s += read_audio(args.evalset / name).duration_s
    runs = []
    for jobs in args.jobs or [2]:
        for beam in args.beam_size or [5]:
            print(f"running jobs={jobs} beam={beam} over {len(truths)} files …", file=sys.stderr)
            r = run_batch(args.evalset, jobs, beam, args.model)
            accuracy = score(truths, r["incidents"])
            runs.append({"jobs": jobs, "beam_size": beam,
                         "threads_per_job": threads_per_job(jobs),
                         "wall_s": r["wall_s"], "x_realtime": round(audio_s / r["wall_s"], 1),
                         "peak_rss_mb": r["peak_rss_mb"], "failed_files": r["failed_files"],
                         "accuracy": accuracy})
            by_kind = {k: (v["precision"], v["recall"]) for k, v in accuracy["by_kind"].items()}
            print(f"  {runs[-1]['x_realtime']}× real time, {r['peak_rss_mb']} MB, "
                  f"precision/recall {by_kind}", file=sys.stderr)
    results = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
               "machine": machine(), "model": args.model,
               "evalset": os.path.relpath(args.evalset, Path.cwd()), "files": len(truths),
               "audio_s": round(audio_s, 1), "runs": runs}
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(f"wrote {args.out} and {args.out.with_suffix('.md')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
