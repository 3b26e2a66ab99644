"""Transcribe labelled turns of generated audio with Whisper, to show how hard the set is.

    .venv/bin/python scripts/asr_probe.py LABELS.yaml [--model DIR] [--files N] [--turns-per-file N]

Runs in the project's .venv (faster-whisper). Each turn is cut from its own channel (mono files:
the one channel) with 0.15 s margin and transcribed on its own (language="zh", beam_size=5,
int8 on CPU), then converted to simplified with OpenCC. Prints script text vs. recognition and a
character error rate. Purely diagnostic: labels never come from recognition.
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import numpy as np
import yaml


def decode16k(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-ar", "16000", "-f", "f32le",
                          "-acodec", "pcm_f32le", "-"], capture_output=True, check=True).stdout
    ch = int(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                             "stream=channels", "-of", "csv=p=0", str(path)],
                            capture_output=True, text=True, check=True).stdout.strip())
    return np.frombuffer(raw, np.float32).reshape(-1, ch)


def cer(ref: str, hyp: str) -> float:
    keep = lambda s: [c for c in s if "\u4e00" <= c <= "\u9fff"]  # noqa: E731
    r, h = keep(ref), keep(hyp)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        prev, d[0] = d[0], i
        for j in range(1, len(h) + 1):
            cur = min(d[j] + 1, d[j - 1] + 1, prev + (r[i - 1] != h[j - 1]))
            prev, d[j] = d[j], cur
    return d[len(h)] / max(1, len(r))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("labels", type=Path)
    ap.add_argument("--model", default="models/whisper-base")
    ap.add_argument("--files", type=int, default=0, help="only the first N files (0: all)")
    ap.add_argument("--turns-per-file", type=int, default=0)
    ap.add_argument("--voice", default="", help="only turns in this voice")
    ap.add_argument("--tagged", action="store_true", help="only turns with expect or decoys")
    ap.add_argument("--max-turns", type=int, default=0, help="stop after N turns (0: no limit)")
    a = ap.parse_args()
    import opencc
    from faster_whisper import WhisperModel
    model = WhisperModel(a.model, device="cpu", compute_type="int8", cpu_threads=2)
    t2s = opencc.OpenCC("t2s")
    files = yaml.safe_load(a.labels.read_text(encoding="utf-8"))["files"]
    names = list(files)[: a.files or None]
    by_voice: dict[str, list[float]] = {}
    for name in names:
        rec = files[name]
        audio = decode16k(a.labels.parent / name)
        turns = [t for t in rec["turns"] if (not a.voice or t["voice"] == a.voice)
                 and (not a.tagged or t["expect"] or t["decoys"])]
        for t in turns[: a.turns_per_file or None]:
            if a.max_turns and sum(map(len, by_voice.values())) >= a.max_turns:
                break
            i0 = max(0, int((t["start_s"] - 0.15) * 16000))
            i1 = int((t["end_s"] + 0.15) * 16000)
            clip = np.ascontiguousarray(audio[i0:i1, t["channel"]])
            segs, _ = model.transcribe(clip, language="zh", beam_size=5, vad_filter=False,
                                       condition_on_previous_text=False)
            hyp = t2s.convert("".join(s.text for s in segs).strip())
            e = cer(t["text"], hyp)
            by_voice.setdefault(t["voice"], []).append(e)
            tag = ",".join(t["expect"]) or ("~" + ",".join(t["decoys"]) if t["decoys"] else "")
            print(f"{name:28s} {t['speaker']:7s} {t['voice']:9s} CER {e:4.2f} {tag:10s} "
                  f"{t['text']}  =>  {hyp}", flush=True)
    for v, es in sorted(by_voice.items()):
        print(f"voice {v}: {len(es)} turns, mean CER {np.mean(es):.2f}, "
              f"exact {sum(e == 0 for e in es)}/{len(es)}")


if __name__ == "__main__":
    main()
