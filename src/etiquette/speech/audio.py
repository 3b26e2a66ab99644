"""Audio in: any container PyAV (FFmpeg) reads, any sample rate, one array per microphone."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from faster_whisper.audio import decode_audio

from etiquette.core.records import SAMPLE_RATE

logger = logging.getLogger("etiquette.speech.audio")

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wma"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm"})
MEDIA_SUFFIXES = AUDIO_SUFFIXES | VIDEO_SUFFIXES


class AudioError(ValueError):
    """A file that cannot be analysed: missing, not media, no audio track, or empty."""


@dataclass(frozen=True)
class DecodedAudio:
    channels: tuple[np.ndarray, ...]  # float32 at SAMPLE_RATE; one (mono) or two (stereo)
    source_channels: int  # as recorded; more than two are folded into two by FFmpeg's downmix

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE


def _channel_count(path: Path) -> int:
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError("文件中没有音轨 (no audio track)")
            return int(container.streams.audio[0].codec_context.channels or 1)
    except av.error.FFmpegError as e:
        raise AudioError(f"无法解码 (cannot decode): {e}") from e


def read_audio(path: str | Path) -> DecodedAudio:
    """Decode `path` (audio, or the first audio track of a video) to 16 kHz float32 channels.

    Raises:
      AudioError: the file is missing, unreadable, has no audio track or no samples.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError("文件不存在 (no such file)")
    if path.stat().st_size == 0:
        raise AudioError("文件为空 (empty file)")
    count = _channel_count(path)
    try:
        decoded = decode_audio(str(path), sampling_rate=SAMPLE_RATE, split_stereo=count >= 2)
    except (av.error.FFmpegError, ValueError) as e:
        raise AudioError(f"无法解码 (cannot decode): {e}") from e
    channels = tuple(decoded) if isinstance(decoded, tuple) else (decoded,)
    if len(channels[0]) == 0:
        raise AudioError("没有可解码的音频 (no decodable audio)")
    logger.debug("decoded %s: %d channel(s), %.1f s", path, count, len(channels[0]) / SAMPLE_RATE)
    return DecodedAudio(tuple(np.ascontiguousarray(c) for c in channels), count)
