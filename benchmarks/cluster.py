"""Batch throughput on a local Ray cluster against a plain `--jobs` run, on the same files in
the same run (issue 20: the cluster's overhead should leave at least 0.9 of plain `--jobs`).

    python -m benchmarks.cluster                 # the first 8 files of the evaluation set
    python -m benchmarks.cluster --files 40 --jobs 2 --rounds 2

Each round runs the real CLI twice over the files, plainly (`--jobs N`) and on
`--cluster local` (Ray started for the run, as many one-thread analysers as the machine has
cores), alternating which goes first; the ratio is audio seconds per wall second, cluster over
plain. Wall time includes start-up (Ray's and each analyser's model load) as a user sees it.
Results go to cluster_results.json and cluster_results.md. Requires the `cluster` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.run import DEFAULT_SET, HERE, machine, run_batch, setup
from etiquette.core.session_records import SESSION_RECORD
from etiquette.speech.audio import MEDIA_SUFFIXES, read_audio


def _audio_s(files: list[Path]) -> float:
    return sum(read_audio(f).duration_s for f in files)


def _lines(result: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(x, sort_keys=True) for x in result["incidents"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evalset", type=Path, default=DEFAULT_SET)
    parser.add_argument("--files", type=int, default=8, help="the first N media files")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="whisper-base")
    args = parser.parse_args()
    files = sorted(f for f in args.evalset.iterdir()
                   if f.suffix.lower() in MEDIA_SUFFIXES)[:args.files]
    audio_s = _audio_s(files)
    load = os.getloadavg()
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for f in files:  # the same paths (so the same incident ids) for both kinds of run
            (folder / f.name).symlink_to(f.resolve())
        for r in range(args.rounds):
            kinds = [("plain", []), ("cluster", ["--cluster", "local"])]
            for kind, extra in kinds if r % 2 == 0 else kinds[::-1]:
                result = run_batch(folder, args.jobs, 5, args.model, extra=extra)
                runs.append({"kind": kind, "round": r, "wall_s": result["wall_s"],
                             "peak_rss_mb": result["peak_rss_mb"],
                             "x_realtime": round(audio_s / result["wall_s"], 2),
                             "sessions": sum(x["kind"] == SESSION_RECORD
                                             for x in result["incidents"]),
                             "failed": len(result["failed_files"]),
                             "lines": _lines(result)})
                print(kind, r, result["wall_s"], "s", flush=True)
    plain = sum(x["wall_s"] for x in runs if x["kind"] == "plain")
    cluster = sum(x["wall_s"] for x in runs if x["kind"] == "cluster")
    same = len({tuple(x.pop("lines")) for x in runs}) == 1
    out = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
           "load_average_at_start": [round(x, 2) for x in load],
           "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
           "files": len(files), "audio_s": round(audio_s, 1), "jobs": args.jobs,
           "runs": runs, "ratio_cluster_over_plain": round(plain / cluster, 3),
           "same_output": same}
    (HERE / "cluster_results.json").write_text(json.dumps(out, indent=2, ensure_ascii=False),
                                               encoding="utf-8")
    rows = "\n".join(f"| {x['round']} | {x['kind']} | {x['wall_s']} | {x['x_realtime']} | "
                     f"{x['peak_rss_mb']} | {x['sessions']} | {x['failed']} |" for x in runs)
    (HERE / "cluster_results.md").write_text(f"""# Batch on a local Ray cluster vs plain `--jobs`

{out['when']}; {setup(out['machine'], args.model)}; load average (1/5/15 min) at start
{' / '.join(map(str, out['load_average_at_start']))}, at end
{' / '.join(map(str, out['load_average_at_end']))} (the machine is shared).
Files: the first {len(files)} of `{args.evalset.name}` ({out['audio_s']} s of audio), plain
`--jobs {args.jobs}` against `--cluster local` (one-thread analysers, one per core), wall
time including start-up. Speed only: no accuracy is judged here.

| round | run | wall s | × real time | peak RSS MB | sessions | failed files |
|---|---|---|---|---|---|---|
{rows}

Throughput ratio, cluster over plain: **{out['ratio_cluster_over_plain']}** (target ≥ 0.9);
output identical (every line, incident ids included): {'yes' if same else 'NO'}.
""", encoding="utf-8")


if __name__ == "__main__":
    main()
