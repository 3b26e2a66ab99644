"""One long recording on a local Ray cluster: its transcription shared out in parts, against
the same cluster with the recording in one part (one analyser does it all, as before parts)
and against a plain run (issue 20, item 1).

    python -m benchmarks.cluster_long                       # 30 stereo sessions, parts of 4
    python -m benchmarks.cluster_long --sessions 60 --part-inputs 8

The recording is the evaluation set's stereo sessions end to end, as one file (a counter's
morning recorded whole). Runs, each the real CLI with start-up included:
- plain `--threads 1`: one machine, as each analyser is (the output the cluster must equal);
- plain `--threads N`: one machine's best for one file (N cores);
- cluster `--part-inputs P`: N one-thread analysers share the parts;
- cluster, one part: `--part-inputs` larger than the recording's speech.
Results go to cluster_long_results.json and .md. Requires the `cluster` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from benchmarks.run import DEFAULT_SET, HERE, machine, run_batch, setup
from etiquette.core.records import SAMPLE_RATE
from etiquette.speech.audio import read_audio

ONE_PART = 100_000  # inputs: more than any recording here holds


def long_recording(evalset: Path, sessions: int, out: Path) -> float:
    """The first `sessions` stereo recordings of `evalset` end to end in `out` (FLAC, 16 kHz);
    its length in seconds."""
    stereo = [f for f in sorted(evalset.iterdir()) if "_stereo_" in f.name][:sessions]
    pieces = [np.stack(read_audio(f).channels, axis=1) for f in stereo]
    audio = np.concatenate(pieces)
    soundfile.write(out, audio, SAMPLE_RATE, subtype="PCM_16")
    return float(len(audio) / SAMPLE_RATE)


def _lines(result: dict[str, Any]) -> list[str]:
    return sorted(json.dumps(x, sort_keys=True) for x in result["incidents"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evalset", type=Path, default=DEFAULT_SET)
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--part-inputs", type=int, default=4)
    parser.add_argument("--model", default="whisper-base")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    load = os.getloadavg()
    parts = ["--part-inputs", str(args.part_inputs)]
    kinds = [("plain, 1 thread", ["--threads", "1", *parts]),
             (f"plain, {cores} threads", ["--threads", str(cores), *parts]),
             (f"cluster, parts of {args.part_inputs} inputs", ["--cluster", "local", *parts]),
             ("cluster, one part", ["--cluster", "local", "--part-inputs", str(ONE_PART)])]
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "long"
        folder.mkdir()
        audio_s = long_recording(args.evalset, args.sessions, folder / "counter_morning.flac")
        for kind, extra in kinds:
            result = run_batch(folder, 1, 5, args.model, extra=extra)
            runs.append({"run": kind, "wall_s": result["wall_s"],
                         "x_realtime": round(audio_s / result["wall_s"], 2),
                         "peak_rss_mb": result["peak_rss_mb"],
                         "failed": len(result["failed_files"]), "lines": _lines(result)})
            print(kind, result["wall_s"], "s", flush=True)
    same = runs[0]["lines"] == runs[2]["lines"]
    for r in runs:
        r["incident_lines"] = len(r.pop("lines"))
    out = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
           "load_average_at_start": [round(x, 2) for x in load],
           "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
           "sessions": args.sessions, "audio_s": round(audio_s, 1),
           "part_inputs": args.part_inputs, "runs": runs,
           "speed_up_parts_over_one_part": round(runs[3]["wall_s"] / runs[2]["wall_s"], 3),
           "cluster_over_plain_best": round(runs[1]["wall_s"] / runs[2]["wall_s"], 3),
           "same_output_as_plain_one_thread": same}
    (HERE / "cluster_long_results.json").write_text(
        json.dumps(out, indent=2, ensure_ascii=False), encoding="utf-8")
    rows = "\n".join(f"| {x['run']} | {x['wall_s']} | {x['x_realtime']} | {x['peak_rss_mb']} | "
                     f"{x['incident_lines']} | {x['failed']} |" for x in runs)
    (HERE / "cluster_long_results.md").write_text(f"""# One long recording on a local Ray cluster

{out['when']}; {setup(out['machine'], args.model)}; load average (1/5/15 min) at start
{' / '.join(map(str, out['load_average_at_start']))}, at end
{' / '.join(map(str, out['load_average_at_end']))} (the machine is shared).
The recording: the first {args.sessions} stereo sessions of `{args.evalset.name}` end to end,
one file of {out['audio_s']} s. Wall time of the real CLI, start-up included (the cluster's:
Ray and one model per analyser, one analyser per core). Speed only: no accuracy is judged here.

| run | wall s | × real time | peak RSS MB (CLI + children, Ray's too) | lines | failed files |
|---|---|---|---|---|---|
{rows}

- Parts shared out, over one part on the same cluster: **{out['speed_up_parts_over_one_part']}×**.
- Cluster with parts, over one machine's best for one file ({cores} threads):
  **{out['cluster_over_plain_best']}×**.
- Cluster output identical to the plain one-thread run (every line, incident ids included):
  {'yes' if same else 'NO'}.
""", encoding="utf-8")


if __name__ == "__main__":
    main()
