"""Write float audio as wav/flac (soundfile, 16-bit) or mp3/m4a/ogg (ffmpeg)."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

# format -> (ffmpeg codec args, default bitrate per file)
_LOSSY = {
    ".mp3": (["-c:a", "libmp3lame", "-joint_stereo", "0"], "96k"),
    ".m4a": (["-c:a", "aac"], "64k"),
    # Opus in Ogg; libopus codes the two microphones with a 24 kHz max bandwidth either way
    ".ogg": (["-c:a", "libopus", "-application", "audio", "-vbr", "on"], "32k"),
    ".opus": (["-c:a", "libopus", "-application", "audio", "-vbr", "on"], "32k"),
}
FORMATS = (".wav", ".flac", *_LOSSY)


def write_audio(path: Path, audio: np.ndarray, sr: int, bitrate: str | None = None) -> None:
    path = Path(path)
    ext = path.suffix.lower()
    path.parent.mkdir(parents=True, exist_ok=True)
    audio = np.clip(audio, -1.0, 1.0)
    if ext == ".wav":
        sf.write(path, audio, sr, subtype="PCM_16")
        return
    if ext == ".flac":
        sf.write(path, audio, sr, format="FLAC", subtype="PCM_16")
        return
    if ext not in _LOSSY:
        raise ValueError(f"unsupported format {ext}; use one of {FORMATS}")
    codec, default_rate = _LOSSY[ext]
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        sf.write(wav, audio, sr, subtype="PCM_16")
        out = Path(tmp) / f"out{ext}"
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
               *codec, "-b:a", bitrate or default_rate, "-map_metadata", "-1",
               "-fflags", "+bitexact", "-flags:a", "+bitexact", str(out)]
        subprocess.run(cmd, check=True)
        out.replace(path)
