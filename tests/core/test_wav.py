"""The length a WAV header states (`wav_declared_s`): the one reading both the speech side and
the supervision service compare decoded audio with, so that a file cut short is found."""

from __future__ import annotations

import io
import struct
import wave

import pytest

from etiquette.core.wav import wav_declared_s

RATE = 16_000
BYTE_RATE = RATE * 2  # mono, 16-bit


def chunk(tag: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk; an odd-sized body is followed by its pad byte."""
    return tag + struct.pack("<I", len(body) if size is None else size) + body + (
        b"\x00" if len(body) % 2 else b"")


def fmt(byte_rate: int = BYTE_RATE) -> bytes:
    return chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, RATE, byte_rate, 2, 16))


def riff(*chunks: bytes, magic: bytes = b"RIFF") -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return magic + struct.pack("<I", len(body)) + body


def test_a_wav_written_by_the_standard_library_states_its_length() -> None:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 2 * 8000 * 3)  # 3 s of stereo
    assert wav_declared_s(out.getvalue()) == 3.0


def test_the_stated_size_counts_not_the_bytes_present() -> None:
    # header says 2 s; only 0.5 s of data follows: the cut the callers look for
    head = riff(fmt(), chunk(b"data", b"\x00" * (BYTE_RATE // 2), size=2 * BYTE_RATE))
    assert wav_declared_s(head) == 2.0


def test_chunks_before_the_data_are_skipped_with_their_pad_byte() -> None:
    # LIST of odd size (5): a reader that forgot the pad byte would land one byte short of
    # the next chunk's tag and find no data chunk at all
    head = riff(chunk(b"LIST", b"INFOx"), fmt(), chunk(b"fact", struct.pack("<I", RATE)),
                chunk(b"junk", b"abc"), chunk(b"data", b"", size=5 * BYTE_RATE))
    assert wav_declared_s(head) == 5.0


def test_only_the_first_bytes_are_needed() -> None:
    head = riff(fmt(), chunk(b"data", b"\x01\x02" * RATE * 4))
    assert wav_declared_s(head[:44]) == 4.0


@pytest.mark.parametrize("head", [
    riff(fmt(), chunk(b"data", b"", size=0)),
    riff(fmt(), chunk(b"data", b"", size=0xFFFFFFFF)),
], ids=["size-0", "size-ffffffff"])
def test_a_size_left_unknown_states_no_length(head: bytes) -> None:
    # written to a pipe: the encoder could not go back to fill the size in
    assert wav_declared_s(head) is None


def test_rf64_and_rifx_state_no_length_here() -> None:
    # RF64 puts its sizes in a ds64 chunk and 0xFFFFFFFF in the data chunk; RIFX is big-endian
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, 3 * BYTE_RATE, 0, 0))
    rf64 = riff(ds64, fmt(), chunk(b"data", b"", size=0xFFFFFFFF), magic=b"RF64")
    rifx = riff(fmt(), chunk(b"data", b"", size=3 * BYTE_RATE), magic=b"RIFX")
    assert wav_declared_s(rf64) is None
    assert wav_declared_s(rifx) is None


@pytest.mark.parametrize("head", [
    b"",
    b"RIFF\x24\x00\x00\x00WAV",  # shorter than the RIFF header
    riff(),  # nothing after WAVE
    riff(fmt())[:30],  # cut inside the fmt chunk, before its byte rate
    riff(fmt(), chunk(b"data", b"", size=BYTE_RATE))[:40],  # cut inside the data chunk header
    riff(chunk(b"data", b"", size=BYTE_RATE), fmt()),  # data before any fmt
    riff(fmt(byte_rate=0), chunk(b"data", b"", size=BYTE_RATE)),
    riff(chunk(b"fmt ", b"\x01\x00\x01\x00\x80\x3e\x00\x00"),  # fmt too small for a byte rate
         chunk(b"data", b"", size=BYTE_RATE)),
    riff(chunk(b"LIST", b"ab", size=0x7FFFFFFF), fmt(),  # a chunk claiming the rest
         chunk(b"data", b"", size=BYTE_RATE)),
    b"OggS" + b"\x00" * 60,
], ids=["empty", "short-riff", "no-chunks", "cut-in-fmt", "cut-in-data-header",
        "data-before-fmt", "byte-rate-0", "fmt-too-small", "chunk-past-end", "not-riff"])
def test_a_header_that_reaches_no_usable_data_chunk_states_no_length(head: bytes) -> None:
    assert wav_declared_s(head) is None

