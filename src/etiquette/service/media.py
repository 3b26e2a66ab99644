"""Uploaded media checked by decoding it whole: audio through PyAV (FFmpeg), images through OpenCV.

The first bytes only choose which one demuxer or decoder may try (never FFmpeg's probing over
every format it knows); a file is accepted when that decoder reads it to its end, and its media
type is the one of the format that decoded it: the type the file is later served with. A PNG
signature followed by a script, a WAV header over nothing, a JPEG cut short are refused with a
message naming the form part. Memory stays bounded: audio is decoded a frame at a time and
counted, never collected, and decoding stops at the longest duration allowed; an image's size
is read from its header before its pixels are decoded.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import av
import numpy as np

from etiquette.core.wav import wav_declared_s
from etiquette.service.errors import Invalid, UnsupportedMedia

# Each accepted format: the one FFmpeg demuxer tried, the decoders it may hold, its media type.
AUDIO_FORMATS: dict[str, tuple[frozenset[str], str]] = {
    "wav": (frozenset({"pcm_s16le", "pcm_s24le", "pcm_s32le", "pcm_u8", "pcm_f32le", "pcm_f64le",
                       "pcm_alaw", "pcm_mulaw"}), "audio/wav"),
    "flac": (frozenset({"flac"}), "audio/flac"),
    "ogg": (frozenset({"vorbis", "libvorbis", "opus", "libopus", "flac"}), "audio/ogg"),
    "mp3": (frozenset({"mp3", "mp3float"}), "audio/mpeg"),
}
AUDIO_TYPES = frozenset(t for _, t in AUDIO_FORMATS.values())
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
EXTENSIONS = {"audio/wav": "wav", "audio/flac": "flac", "audio/ogg": "ogg", "audio/mpeg": "mp3",
              "image/jpeg": "jpg", "image/png": "png"}
# Formats whose header states the exact length: decoding less than that is a cut-short file.
EXACT_LENGTH = frozenset({"wav", "flac"})
CUT_SHORT_S = 0.1
MAX_IMAGE_PIXELS = 40_000_000  # a 4K camera frame is 8.3 megapixels

_PNG = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG = b"\xff\xd8\xff"
# JPEG start-of-frame markers (baseline, progressive, lossless…), not DHT/JPG/DAC.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclass(frozen=True)
class Audio:
    media_type: str
    duration_s: float


def served_as(media_type: str, audio: bool) -> tuple[str, bool]:
    """(content type, shown inline) of a stored file: the type it was validated as, shown in
    the page's <audio> or <img> only where that is what the page plays or shows; any other
    (a row from before validation, a type for the other kind of part) is an attachment of
    bytes, never rendered by the browser."""
    if audio and media_type in AUDIO_TYPES or not audio and media_type in IMAGE_TYPES:
        return media_type, True
    return "application/octet-stream", False


def audio_format(data: bytes) -> str | None:
    """The demuxer that may try these bytes, from their signature."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return None


def image_type(data: bytes) -> str | None:
    if data[:8] == _PNG:
        return "image/png"
    if data[:3] == _JPEG:
        return "image/jpeg"
    return None


def check_audio(data: bytes, part: str, max_s: float) -> Audio:
    """Decode `data` whole (stopping past `max_s`). Raises UnsupportedMedia (not audio of an
    accepted format) or Invalid (does not decode, cut short, empty or longer than `max_s`)."""
    fmt = audio_format(data)
    if fmt is None:
        kind = "jpeg, png" if image_type(data) else "unrecognised bytes"
        raise UnsupportedMedia(f"「{part}」不是可接受的音频 (evidence '{part}' must be audio: "
                               f"wav, flac, ogg, mp3; got {kind})")
    codecs, media_type = AUDIO_FORMATS[fmt]
    declared: float | None = None
    decoded = 0.0
    try:
        with av.open(io.BytesIO(data), mode="r", format=fmt, metadata_errors="replace") as box:
            if not box.streams.audio:
                raise Invalid(f"「{part}」中没有音轨 (evidence '{part}' holds no audio stream)")
            stream = box.streams.audio[0]
            codec = stream.codec_context.name
            if codec not in codecs:
                raise Invalid(f"「{part}」的音频编码 {codec} 不被接受 (evidence '{part}': "
                              f"{fmt} with {codec} audio is not accepted)")
            if fmt == "wav":  # FFmpeg states a WAV's length as far as its bytes go
                declared = wav_declared_s(data)
            elif stream.duration is not None and stream.time_base is not None:
                declared = float(stream.duration * stream.time_base)
            for frame in box.decode(stream):
                decoded += frame.samples / (frame.sample_rate or 1)
                if decoded > max_s:
                    raise Invalid(f"「{part}」超过 {max_s:.0f} 秒 (evidence '{part}' is longer "
                                  f"than {max_s:.0f} s; a clip is at most {max_s:.0f} s around "
                                  "the utterance)")
    except av.error.FFmpegError as e:
        raise Invalid(f"「{part}」无法解码 (evidence '{part}' is not a readable "
                      f"{fmt.upper()} file: {e})") from e
    if decoded <= 0:
        raise Invalid(f"「{part}」中没有可解码的音频 (evidence '{part}' holds no audio)")
    if fmt in EXACT_LENGTH and declared is not None and decoded < declared - CUT_SHORT_S:
        raise Invalid(f"「{part}」不完整：声明 {declared:.1f} 秒，只解码出 {decoded:.1f} 秒 "
                      f"(evidence '{part}' is cut short: {decoded:.1f} s of {declared:.1f} s)")
    return Audio(media_type, decoded)


def check_image(data: bytes, part: str, max_pixels: int = MAX_IMAGE_PIXELS) -> str:
    """The media type of an image that decodes whole. Raises UnsupportedMedia (not a JPEG or
    PNG) or Invalid (does not decode, cut short or followed by other bytes, too many pixels)."""
    media_type = image_type(data)
    if media_type is None:
        kind = "audio" if audio_format(data) else "unrecognised bytes"
        raise UnsupportedMedia(f"「{part}」不是可接受的图片 (evidence '{part}' must be image: "
                               f"jpeg, png; got {kind})")
    size = _png_size(data) if media_type == "image/png" else _jpeg_size(data)
    ends = (data.endswith(_PNG_END) if media_type == "image/png"
            else data.rstrip(b"\x00").endswith(b"\xff\xd9"))
    if size is None or not ends:
        raise Invalid(f"「{part}」无法解码为图片 (evidence '{part}' is not a complete "
                      f"{media_type.split('/')[1].upper()} image)")
    width, height = size
    if width * height > max_pixels:
        raise Invalid(f"「{part}」像素过多 (evidence '{part}' is {width}×{height}; at most "
                      f"{max_pixels} pixels)")
    import cv2  # at the first image, not at start: the service starts without OpenCV

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[:2] != (height, width):
        raise Invalid(f"「{part}」无法解码为图片 (evidence '{part}' does not decode as "
                      f"{media_type.split('/')[1].upper()})")
    return media_type


def _png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the IHDR chunk, which must come first."""
    if len(data) < 24 or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return (width, height) if width and height else None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first start-of-frame segment."""
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # segments without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF:
            if i + 9 > len(data) or length < 7:
                return None
            height, width = struct.unpack(">HH", data[i + 5:i + 9])
            return (width, height) if width and height else None
        if marker in (0xD9, 0xDA) or length < 2:  # end of image or scan before any frame
            return None
        i += 2 + length
    return None
