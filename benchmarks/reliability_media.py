"""Damaged recordings for benchmarks/reliability.py, made at run time from recordings_sample/.

Each intact source is copied once as a control, then damaged in the ways a recorder that died,
an interrupted copy or a bad disk damage files: cut at several points, cut to its header, made
empty, bytes flipped or a block overwritten in the middle, a block removed from the middle,
a complete file under another format's extension. Every file gets a `Damage` saying what was
done and whether the damage is one the file itself can reveal (README, "Batch analysis": PCM
has no checksums, so garbage inside a WAV decodes as noise).
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np
import soundfile as sf
from av.audio.stream import AudioStream

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "recordings_sample"
# The intact sources: the sample recordings, and an MP4 (AAC, index first as a recorder that
# finished the file writes it) transcoded from the polite one, which holds a greeting and a
# farewell: any missing greeting/farewell found in its damaged copies is a false one.
SOURCES = {"wav": "window01_polite.wav", "flac": "window02_rude.flac",
           "mp3": "window03_citizen_rude.mp3", "m4a": "window04_mono.m4a",
           "ogg": "window05_session.ogg", "mp4": "window01_polite.wav"}
WRONG_EXTENSION = {"wav": "mp3", "flac": "ogg", "mp3": "wav", "m4a": "flac", "ogg": "m4a",
                   "mp4": "wav"}


@dataclass(frozen=True)
class Damage:
    file: str          # the file's name in the folder
    fmt: str           # the format of its bytes (the extension of the intact source)
    source: str        # the sample it was made from
    how: str           # what was done to it
    expect: str        # "complete" (intact or only misnamed), "reported" (must be reported)
    bytes: int
    detectable: bool = True  # False: the README says this damage cannot be seen in the file

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def transcode_mp4(src: Path, dst: Path) -> None:
    """`src`'s audio as AAC in an MP4 with its index first (movflags=faststart)."""
    audio, rate = sf.read(src, dtype="float32", always_2d=True)
    planar = np.ascontiguousarray(audio.T)
    with av.open(str(dst), "w", format="mp4", container_options={"movflags": "faststart"}) as out:
        encode(out, cast(AudioStream, out.add_stream("aac", rate=rate)), planar, rate)


def encode(out: av.container.OutputContainer, stream: AudioStream, planar: np.ndarray,
           rate: int) -> None:
    """`planar` (channels × samples, float32) through `stream` into `out`, flushed."""
    layout = "mono" if planar.shape[0] == 1 else "stereo"
    stream.layout = layout
    resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=rate)
    frame = av.AudioFrame.from_ndarray(planar, format="fltp", layout=layout)
    frame.sample_rate = rate
    frame.time_base = Fraction(1, rate)
    for chunk in resampler.resample(frame) + resampler.resample(None):
        for packet in stream.encode(chunk):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)


def intact(fmt: str, work: Path) -> bytes:
    name = SOURCES[fmt]
    if fmt == "mp4":
        path = work / "_window01_polite.mp4"
        if not path.exists():
            transcode_mp4(SAMPLES / name, path)
        return path.read_bytes()
    return (SAMPLES / name).read_bytes()


def mp3_has_crc(data: bytes) -> bool:
    """Whether an MP3's first frame is protected by a CRC (its protection bit is 0)."""
    at = 0
    if data[:3] == b"ID3":
        at = 10 + sum((data[6 + k] & 0x7F) << (21 - 7 * k) for k in range(4))
    while at + 1 < len(data) and not (data[at] == 0xFF and data[at + 1] & 0xE0 == 0xE0):
        at += 1
    return at + 1 < len(data) and data[at + 1] & 1 == 0


def header_bytes(fmt: str, data: bytes) -> int:
    """Where a file's header ends, roughly: what a recorder writes before the first audio."""
    if fmt == "wav":
        at = data.find(b"data")
        return at + 8 if at >= 0 else 44
    if fmt == "flac":  # "fLaC", then metadata blocks (1 byte: last flag + type, 3: length)
        at = 4
        while at + 4 <= len(data):
            last, size = data[at] & 0x80, int.from_bytes(data[at + 1:at + 4], "big")
            at += 4 + size
            if last:
                break
        return min(at, len(data))
    if fmt in ("m4a", "mp4"):
        at = data.find(b"mdat")
        return at + 8 if at >= 0 else 4096
    return 1024  # mp3 (ID3 + Xing frame), ogg (identification and comment pages)


def variants(fmt: str, data: bytes, quick: bool) -> list[tuple[str, bytes, str, bool]]:
    """(how, bytes, expect, detectable) for one intact file."""
    rng = np.random.default_rng(len(data))
    n = len(data)
    head = header_bytes(fmt, data)
    out: list[tuple[str, bytes, str, bool]] = [("intact (control)", data, "complete", True)]
    cuts = (0.5,) if quick else (0.1, 0.25, 0.5, 0.9)
    for frac in cuts:
        out.append((f"cut at {frac:.0%} ({int(n * frac):,} of {n:,} bytes)", data[:int(n * frac)],
                    "reported", True))
    out.append((f"cut to its header ({head:,} bytes)", data[:head], "reported", True))
    if quick:
        return out
    out.append(("zero-length", b"", "reported", True))
    flipped = bytearray(data)
    lo = max(head, int(n * 0.4))
    for at in rng.integers(lo, int(n * 0.6), 64):
        flipped[int(at)] ^= 0xFF
    # PCM, and MP3 frames without a CRC, have no checksums: flipped bytes are other sound, not
    # an error (README, "Batch analysis").
    checksummed = fmt != "wav" and not (fmt == "mp3" and not mp3_has_crc(data))
    out.append(("64 bytes flipped in 40-60%", bytes(flipped), "reported", checksummed))
    block = 16 * 1024
    mid = max(head, n // 2)
    garbage = rng.integers(0, 256, block, dtype=np.uint8).tobytes()
    out.append((f"{block // 1024} KiB of random bytes over the middle",
                data[:mid] + garbage + data[mid + block:], "reported", fmt != "wav"))
    removed = data[:max(head, int(n * 0.4))] + data[int(n * 0.6):]
    out.append(("20% removed from the middle", removed, "reported", True))
    out.append((f"intact, named .{WRONG_EXTENSION[fmt]}", data, "complete", True))
    return out


def make_damaged(folder: Path, work: Path, quick: bool = False) -> list[Damage]:
    """Write the controls and damaged copies into `folder` (flat); returns what each file is."""
    folder.mkdir(parents=True, exist_ok=True)
    made: list[Damage] = []
    formats = ("wav", "mp3", "mp4") if quick else tuple(SOURCES)
    for fmt in formats:
        data = intact(fmt, work)
        for k, (how, body, expect, detectable) in enumerate(variants(fmt, data, quick)):
            ext = WRONG_EXTENSION[fmt] if how.startswith("intact, named") else fmt
            name = f"{fmt}_{k:02d}.{ext}"
            (folder / name).write_bytes(body)
            made.append(Damage(name, fmt, SOURCES[fmt], how, expect, len(body), detectable))
    if not quick:
        rng = np.random.default_rng(17)
        name = "noise_00.wav"
        (folder / name).write_bytes(rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes())
        made.append(Damage(name, "random", "-", "200,000 random bytes named .wav", "reported",
                           200_000))
    return made


# ---------------------------------------------------------------- evidence clips


def clip_bytes(fmt: str, seconds: float = 4.0) -> bytes:
    """`seconds` of the polite sample's staff channel, 16 kHz mono, as `fmt` (wav, flac, mp3,
    ogg): a clip as `batch --post` cuts it."""
    audio, rate = sf.read(SAMPLES / "window01_polite.wav", dtype="float32", always_2d=True)
    mono = audio[int(0.2 * rate):int((0.2 + seconds) * rate), 0]
    if fmt in ("wav", "flac", "ogg"):
        buf = io.BytesIO()
        sf.write(buf, mono, rate, format={"wav": "WAV", "flac": "FLAC", "ogg": "OGG"}[fmt],
                 subtype={"wav": "PCM_16", "flac": "PCM_16", "ogg": "VORBIS"}[fmt])
        return buf.getvalue()
    buf = io.BytesIO()
    codec = {"mp3": "libmp3lame", "m4a": "aac"}[fmt]
    with av.open(buf, "w", format={"mp3": "mp3", "m4a": "ipod"}[fmt]) as out:
        encode(out, cast(AudioStream, out.add_stream(codec, rate=rate)),
               np.ascontiguousarray(mono[None, :]), rate)
    return buf.getvalue()


def damaged_clips(quick: bool = False) -> list[tuple[str, str, bytes, str]]:
    """(name, content type, bytes, expect) of clips to post as evidence: intact ones, and cut,
    emptied, overwritten and disguised ones. `expect`: "accepted", "refused" or "either"."""
    out: list[tuple[str, str, bytes, str]] = []
    types = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg", "ogg": "audio/ogg",
             "m4a": "audio/mp4"}
    rng = np.random.default_rng(5)
    for fmt in ("wav", "flac", "mp3", "ogg") if not quick else ("wav", "mp3"):
        data = clip_bytes(fmt)
        head = header_bytes(fmt, data)
        mid = len(data) // 2
        out.append((f"clip.{fmt} intact", types[fmt], data, "accepted"))
        # WAV/FLAC state their length: a cut one is refused; MP3/Ogg's cut is a shorter clip.
        out.append((f"clip.{fmt} cut at 50%", types[fmt], data[:mid],
                    "refused" if fmt in ("wav", "flac") else "either"))
        out.append((f"clip.{fmt} cut to its header", types[fmt], data[:head], "refused"))
        if not quick:
            out.append((f"clip.{fmt} 4 KiB random over the middle", types[fmt],
                        data[:mid] + rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
                        + data[mid + 4096:], "either"))
    out.append(("clip zero-length", "audio/wav", b"", "refused"))
    out.append(("clip.m4a (AAC, not an accepted evidence format)", "audio/mp4", clip_bytes("m4a"),
                "refused"))
    out.append(("clip: HTML named audio/wav", "audio/wav",
                b"<html><script>alert(1)</script></html>", "refused"))
    out.append(("clip: RIFF/WAVE header then HTML", "audio/wav",
                clip_bytes("wav")[:44] + b"<script>alert(1)</script>" * 40, "refused"))
    return out
