"""The length a WAV file's header states, read from its first bytes: decided once, here, for the
speech side that checks a recording for a cut (`etiquette.speech.audio`) and the supervision
service that checks an uploaded clip (`etiquette.service.media`).

FFmpeg reports a WAV's length as far as its bytes go, so a file cut short while it was written
or copied is found only by comparing that with the size its data chunk declares.
"""

from __future__ import annotations

_UNKNOWN_SIZES = (0, 0xFFFFFFFF)  # written to a pipe before its size was known; RF64's marker


def wav_declared_s(head: bytes) -> float | None:
    """Seconds a WAV header states: its data chunk's size over the byte rate of the fmt chunk
    before it. `head` is the file's first bytes, enough to reach the data chunk's header.

    Chunks are walked by their sizes (an odd size is followed by one pad byte), so LIST, fact
    or other chunks before the data are skipped. None where the header states no length: not a
    RIFF/WAVE file (RF64, RIFX, anything else), a data size left unknown (0 or 0xFFFFFFFF), no
    fmt chunk with a byte rate before the data, or a head that ends before the data chunk's
    header.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos, byte_rate = 12, 0
    while pos + 8 <= len(head):
        tag, size = head[pos:pos + 4], int.from_bytes(head[pos + 4:pos + 8], "little")
        if tag == b"fmt " and size >= 12 and pos + 20 <= len(head):  # byte rate: bytes 8-11
            byte_rate = int.from_bytes(head[pos + 16:pos + 20], "little")
        elif tag == b"data":
            return size / byte_rate if byte_rate and size not in _UNKNOWN_SIZES else None
        pos += 8 + size + (size & 1)
    return None
