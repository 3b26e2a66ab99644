"""Check generated audio against its labels by measurement (no speech recognition).

    python -m synth.verify LABELS.yaml [AUDIO_DIR]      (scripts/ on sys.path)

For every file: decodes with ffmpeg (and tries soundfile), compares duration, channels and rate;
for every turn finds where speech energy starts and ends on the turn's own channel near the
labelled times and reports the deviation; in stereo, checks that the turn is louder on its own
microphone than on the other (crosstalk). Exit status 1 on a failed check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml

TOL_S = 0.03  # onset/offset deviation allowed on files with SNR >= 15 dB
FRAME_S = 0.01


def decode(path: Path) -> tuple[np.ndarray, int, int]:
    probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                            "stream=sample_rate,channels", "-of", "csv=p=0", str(path)],
                           capture_output=True, text=True, check=True).stdout.strip().split(",")
    sr, ch = int(probe[0]), int(probe[1])
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "f32le", "-acodec",
                          "pcm_f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.float32).reshape(-1, ch), sr, ch


def frame_len(sr: int, frame_s: float) -> float:
    return int(round(frame_s * sr)) / sr


def frames_db(x: np.ndarray, sr: int, frame_s: float = FRAME_S) -> np.ndarray:
    hop = int(round(frame_s * sr))  # callers use frame_len(): the exact frame duration
    n = len(x) // hop
    e = (x[: n * hop].astype(np.float64).reshape(n, hop) ** 2).mean(axis=1)
    return 10 * np.log10(e + 1e-12)


def check_file(path: Path, rec: dict) -> tuple[bool, list[str]]:
    lines, ok = [], True
    audio, sr, ch = decode(path)
    try:
        info = sf.info(str(path))
        sf_note = f"soundfile ok ({info.format})"
    except Exception as e:  # noqa: BLE001 - libsndfile lacks some containers (m4a)
        sf_note = f"soundfile cannot read ({type(e).__name__})"
    dur = len(audio) / sr
    if ch != rec["channels"] or sr != rec["sample_rate"] or abs(dur - rec["duration_s"]) > 0.06:
        ok = False
        lines.append(f"  FAIL layout: {ch} ch {sr} Hz {dur:.3f} s, labels say {rec['channels']} ch "
                     f"{rec['sample_rate']} Hz {rec['duration_s']} s")
    snr = rec.get("snr_db")
    tol = TOL_S if snr is None or snr >= 15 else 0.1
    devs, seps, outside = [], [], []
    frame_s = FRAME_S
    frame = frame_len(sr, frame_s)
    turns = rec["turns"]
    for k, t in enumerate(turns):
        c = t["channel"]
        db = frames_db(audio[:, c], sr, frame_s)
        # noise: frames at least 0.1 s away from every labelled turn (either speaker)
        busy = np.zeros(len(db), bool)
        for u in turns:
            busy[max(0, int((u["start_s"] - 0.1) / frame)):int((u["end_s"] + 0.1) / frame)] = True
        floor = np.median(db[~busy]) if (~busy).sum() > 20 else np.percentile(db, 10)
        i0, i1 = int(t["start_s"] / frame), int(t["end_s"] / frame)
        peak = db[i0:i1].max()
        thr = max(floor + 10, peak - 40)
        # search up to 0.3 s outside the label, but not past the middle of the gap to a
        # neighbouring turn (whose crosstalk lies on this channel too)
        prev_end = turns[k - 1]["end_s"] if k else 0.0
        next_start = turns[k + 1]["start_s"] if k + 1 < len(turns) else len(audio) / sr
        a = max(0, int(max(t["start_s"] - 0.3, (prev_end + t["start_s"]) / 2) / frame))
        b = min(len(db), int(min(t["end_s"] + 0.3, (t["end_s"] + next_start) / 2) / frame))
        loud = db > thr
        loud = loud & (np.roll(loud, 1) | np.roll(loud, -1))  # two frames in a row: not a click
        above = np.flatnonzero(loud[a:i1])
        on = (a + above[0]) * frame if len(above) else float("nan")
        above = np.flatnonzero(loud[i0:b])
        off = (i0 + above[-1] + 1) * frame if len(above) else float("nan")
        d_on, d_off = on - t["start_s"], off - t["end_s"]
        devs.append(max(abs(d_on), abs(d_off)))
        outside.append(max(-d_on, d_off, 0.0) + 0.0)
        # speech energy outside the label is an error; a label a little wider than what rises
        # above the noise (soft onsets, faint endings under noise) is expected
        # quiet onsets/endings (q, s, neutral-tone syllables) drown in noise: a label may be
        # wider than the part that rises above the noise by more the lower the SNR
        inward = 0.15 if snr is None or snr >= 25 else 0.3 if snr >= 15 else 0.6
        bad = not (-tol <= d_on <= inward and -inward <= d_off <= tol)
        sep = None
        if ch == 2:
            seg = audio[int(t["start_s"] * sr):int(t["end_s"] * sr)]
            e = 10 * np.log10((seg.astype(np.float64) ** 2).mean(axis=0) + 1e-12)
            sep = e[c] - e[1 - c]
            seps.append(sep)
            bad |= sep < 5
        if bad:
            ok = False
            lines.append(f"  FAIL turn {t['start_s']}-{t['end_s']} {t['speaker']} {t['text']}: "
                         f"onset {d_on:+.3f} offset {d_off:+.3f}" +
                         (f" own-other {sep:.1f} dB" if sep is not None else ""))
    summary = (f"{path.name}: {ch} ch {sr} Hz {dur:.2f} s, {sf_note}; {len(devs)} turns, "
               f"max |onset/offset - label| {max(devs) * 1000:.0f} ms, median "
               f"{np.median(devs) * 1000:.0f} ms, speech outside labels at most "
               f"{max(outside) * 1000:.0f} ms")
    if seps:
        summary += f"; own-minus-other mic {min(seps):.1f}..{max(seps):.1f} dB"
    return ok, [("ok   " if ok else "FAIL ") + summary] + lines


def main() -> None:
    labels = Path(sys.argv[1])
    root = Path(sys.argv[2]) if len(sys.argv) > 2 else labels.parent
    files = yaml.safe_load(labels.read_text(encoding="utf-8"))["files"]
    all_ok, total = True, 0.0
    for name, rec in files.items():
        ok, lines = check_file(root / name, rec)
        all_ok &= ok
        total += rec["duration_s"]
        print("\n".join(lines))
    size = sum((root / n).stat().st_size for n in files)
    print(f"{len(files)} files, {total:.1f} s, {size / 1e6:.2f} MB: "
          f"{'all ok' if all_ok else 'FAILURES'}")
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
