"""Audio in: any container PyAV (FFmpeg) reads, any sample rate, one array per microphone.

Bounded by what it declares. `probe` reads a file's header only (format, streams, channels,
rate, stated length) and decodes nothing; `read_audio(source, max_s=…)` stops demuxing and
decoding once `max_s` seconds are decoded, so a small file that expands to hours (1.3 MB of FLAC
holding 2 h of silence) never costs more than `max_s` of samples, whatever its header says.

Complete or not. While it decodes, `read_audio` notes what the file lost: packets that fail to
decode, frames whose timestamps jump ahead (audio skipped, e.g. Ogg pages dropped for a bad
checksum), and an end that falls short of the length the header states (a recording cut off
while it was written or copied). `DecodedAudio.damage` says what and where; what was read is
still returned, for the caller to analyse, and the positions let the judge leave alone what
depends on the audio that is not there (`core.sessions.heard_whole`).

What a header states is taken only where the format writes it when the file is finished: WAV
(data size), FLAC (STREAMINFO total samples), MP4/M4A/MOV (moov), Matroska/WebM with a
Duration, ASF/WMA, and MP3 with a Xing/Info/VBRI tag. An Ogg file states no length, but a
finished one ends with a whole page marked end-of-stream, which is checked instead. A file
stating no length (a raw stream: ADTS AAC, MP3 without a Xing tag, WebM as browsers record it,
a WAV written to a pipe) cannot be checked against one: for it only decode errors and jumps in
the timestamps count. PCM (WAV) has no checksums either: garbage inside it decodes as noise;
only a cut is found.
"""

from __future__ import annotations

import gc
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from etiquette.core.damage import Damage
from etiquette.core.records import SAMPLE_RATE
from etiquette.core.sessions import Unheard
from etiquette.core.wav import wav_declared_s

logger = logging.getLogger("etiquette.speech.audio")

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus", ".wma"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm"})
MEDIA_SUFFIXES = AUDIO_SUFFIXES | VIDEO_SUFFIXES

# A recording may decode this much shorter than its header states before it counts as cut
# short (encoder delay and padding, a header's rounding).
INCOMPLETE_TOLERANCE_S = 0.5
# Timestamps of consecutive frames that jump ahead by more than this mark audio lost between.
GAP_TOLERANCE_S = 0.1
# Losses this close together (in the audio as decoded) are reported as one.
_MERGE_S = 1.0
_MAX_UNHEARD = 1000  # losses listed; more are merged into the last one
_GROUP = 500_000  # input samples per resampler call, as faster-whisper groups them
_OGG_TAIL = 140_000  # bytes from a file's end that surely hold its last Ogg page (≤ 65,307)
# FFmpeg's demuxers whose stated length is the header's own, written when the file is finished
# (an MP3's only with a Xing/VBRI tag, checked apart).
_STATED_BY_HEADER = frozenset({"aiff", "caf", "flac", "mov,mp4,m4a,3gp,3g2,mj2",
                               "matroska,webm", "asf"})
_WAV_HEAD = 65_536  # bytes that surely reach a WAV's data chunk header

Source = str | Path | bytes


class AudioError(ValueError):
    """A file that cannot be analysed: missing, not media, no audio track, or empty."""


@dataclass(frozen=True)
class MediaProbe:
    """A media file as its header describes it; nothing decoded."""

    format: str  # FFmpeg's demuxer: "wav", "flac", "mp3", "ogg", "mov,mp4,m4a,3gp,3g2,mj2", …
    duration_s: float | None  # FFmpeg's figure for the length, perhaps estimated (file size)
    declared_s: float | None  # the length the header itself states (see the module's doc);
    # None where it states none
    audio_streams: int
    video_streams: int
    channels: int  # of the first audio track (0: no audio track)
    sample_rate: int  # of the first audio track, Hz (0: no audio track)
    codec: str | None  # of the first audio track


@dataclass(frozen=True)
class DecodedAudio:
    channels: tuple[np.ndarray, ...]  # float32 at SAMPLE_RATE; one (mono) or two (stereo)
    source_channels: int  # as recorded; more than two are folded into two by FFmpeg's downmix
    declared_s: float | None = None  # the length the header states (`MediaProbe.declared_s`)
    damage: Damage | None = None  # None: complete, as far as the file lets it be checked
    beyond_max: bool = False  # decoding stopped at `max_s`: the file holds more audio

    @property
    def duration_s(self) -> float:
        return len(self.channels[0]) / SAMPLE_RATE

    @property
    def complete(self) -> bool:
        return self.damage is None

    @property
    def unheard(self) -> tuple[Unheard, ...]:
        """Where audio is missing (empty: none known)."""
        return self.damage.unheard if self.damage is not None else ()


class AudioTrack:
    """One audio track's packets → 16 kHz float32 channels, as `faster_whisper.decode_audio`
    makes them (s16 through FFmpeg's resampler, grouped), bounded by `max_s` of input, with the
    losses on the way noted. Used by `read_audio` and by a video's one pass
    (`vision.container.read_media`)."""

    def __init__(self, stream: av.AudioStream, max_s: float | None = None) -> None:
        self.stream = stream
        self.channels = int(stream.codec_context.channels or 1)
        self.split = self.channels >= 2
        self.max_s = max_s
        self.beyond_max = False
        self._resampler: av.AudioResampler | None = av.AudioResampler(
            format="s16", layout="stereo" if self.split else "mono", rate=SAMPLE_RATE)
        self._fifo = av.AudioFifo()
        self._raw = io.BytesIO()
        self.decoded_s = 0.0  # input decoded, seconds
        self.timeline_s = 0.0  # decoded plus gaps skipped: where the next frame should begin
        self._origin: float | None = None  # timestamp of the timeline's start
        self.errors = 0
        self.gaps = 0
        self.first_error_s: float | None = None
        self._unheard: list[Unheard] = []

    def packet(self, packet: av.Packet[av.AudioStream]) -> bool:
        """Decode one demuxed packet of this track; False once `max_s` is reached (stop)."""
        if self.beyond_max:
            return False
        try:
            frames = packet.decode()
        except av.error.EOFError:
            return True  # the decoder was flushed already
        except av.error.FFmpegError as e:
            self.error(str(e))
            return True
        for frame in frames:
            if not self.frame(frame):
                return False
        return True

    def frame(self, frame: av.AudioFrame) -> bool:
        """Add one decoded frame; False once `max_s` is reached."""
        rate = frame.sample_rate or self.stream.rate or SAMPLE_RATE
        length = frame.samples / rate
        at = frame.time
        if at is not None:
            if self._origin is None:
                start = self.stream.start_time
                base = self.stream.time_base
                self._origin = (min(at, float(start * base))
                                if start is not None and base is not None else at)
            jump = at - (self._origin + self.timeline_s)
            if jump > GAP_TOLERANCE_S:
                self.gaps += 1
                self._lose(jump)
                self.timeline_s += jump
        if self.max_s is not None and self.decoded_s + length > self.max_s + 1e-9:
            self.beyond_max = True  # this frame is the last read; `finish` cuts it at max_s
        frame.pts = None  # the FIFO checks timestamps; concatenated audio needs none
        try:
            self._fifo.write(frame)
        except ValueError as e:  # a change of format or layout mid-stream
            self.error(str(e))
            return not self.beyond_max
        self.decoded_s += length
        self.timeline_s += length
        if self._fifo.samples >= _GROUP:
            self._resample(self._fifo.read())
        return not self.beyond_max

    def error(self, why: str) -> None:
        """A packet, or the read, failed here: its audio is lost."""
        self.errors += 1
        if self.first_error_s is None:
            self.first_error_s = self.decoded_s
        logger.debug("decode error at %.2f s: %s", self.decoded_s, why)
        self._lose(None)

    def _lose(self, lost_s: float | None) -> None:
        at = self.decoded_s
        last = self._unheard[-1] if self._unheard else None
        if last is not None and (at - last.at_s <= _MERGE_S or len(self._unheard) >= _MAX_UNHEARD):
            total = (None if last.lost_s is None and lost_s is None
                     else (last.lost_s or 0.0) + (lost_s or 0.0))
            self._unheard[-1] = Unheard(last.at_s, total)
        else:
            self._unheard.append(Unheard(at, lost_s))

    def _resample(self, frame: av.AudioFrame | None) -> None:
        assert self._resampler is not None
        for f in self._resampler.resample(frame):
            self._raw.write(f.to_ndarray().tobytes())

    def lost(self, declared_s: float | None = None) -> Damage:
        """What the track lost when nothing of it decoded (`finish` gave None) but the file is
        still analysed (a video's pictures): all of it, `declared_s` long where the header
        says."""
        return Damage(declared_s, self.timeline_s, 0.0, self.errors, self.gaps,
                      self.first_error_s, (Unheard(0.0, declared_s),))

    def finish(self, declared_s: float | None = None, ends_cleanly: bool | None = None
               ) -> DecodedAudio | None:
        """The audio decoded (None: no samples), with what is known lost: `declared_s`, the
        length the header states, is compared with the timeline read; `ends_cleanly` False says
        the file's own end marker is missing (an Ogg page cut or not marked end-of-stream)."""
        if self._fifo.samples > 0:
            self._resample(self._fifo.read())
        self._resample(None)
        self._resampler = None
        gc.collect()  # PyAV resamplers hold native buffers until collected (faster-whisper#390)
        pcm = np.frombuffer(self._raw.getbuffer(), dtype=np.int16)
        if self.max_s is not None:  # the last frame read may run past it
            pcm = pcm[:round(self.max_s * SAMPLE_RATE) * (2 if self.split else 1)]
        audio = pcm.astype(np.float32) / 32768.0
        del pcm
        self._raw = io.BytesIO()
        if len(audio) == 0:
            return None
        channels: tuple[np.ndarray, ...] = (
            (np.ascontiguousarray(audio[0::2]), np.ascontiguousarray(audio[1::2]))
            if self.split else (audio,))
        cut_at = None
        if not self.beyond_max:
            short = (declared_s - self.timeline_s) if declared_s is not None else 0.0
            if short > INCOMPLETE_TOLERANCE_S:
                cut_at = self.decoded_s
                self._lose(short)
            elif ends_cleanly is False:
                cut_at = self.decoded_s
                self._lose(None)
        damage = None
        if self._unheard:
            damage = Damage(declared_s, self.timeline_s, cut_at, self.errors, self.gaps,
                            self.first_error_s, tuple(self._unheard))
        return DecodedAudio(channels, self.channels, declared_s, damage, self.beyond_max)


# The demuxers bytes may open: bytes are an upload (a practice recording), and FFmpeg left to
# guess would also take a playlist or ffconcat list that reads other files of the server.
UPLOAD_DEMUXERS = "wav,flac,ogg,mp3,matroska,webm,mov,mp4,m4a,aac"


def _open(source: Source) -> tuple[av.container.InputContainer, str]:
    """The container of `source` (a path, or the file's bytes: only UPLOAD_DEMUXERS) and a
    name for the logs."""
    target: str | BinaryIO
    options: dict[str, str] = {}
    if isinstance(source, bytes):
        if not source:
            raise AudioError("文件为空 (empty file)")
        target, name = io.BytesIO(source), "<bytes>"
        options["format_whitelist"] = UPLOAD_DEMUXERS
    else:
        path = Path(source)
        if not path.is_file():
            raise AudioError("文件不存在 (no such file)")
        if path.stat().st_size == 0:
            raise AudioError("文件为空 (empty file)")
        target = name = str(path)
    try:
        return av.open(target, mode="r", metadata_errors="ignore", options=options), name
    except (av.error.FFmpegError, ValueError) as e:
        raise AudioError(f"无法解码 (cannot decode): {e}") from e


def _span(source: Source, start: int, length: int) -> bytes:
    """`length` bytes of the file from `start` (negative: from its end)."""
    if isinstance(source, bytes):
        begin = max(0, len(source) + start) if start < 0 else start
        return source[begin:begin + length]
    with Path(source).open("rb") as f:
        if start < 0:
            f.seek(0, io.SEEK_END)
            f.seek(max(0, f.tell() + start))
        else:
            f.seek(start)
        return f.read(length)


def _mp3_has_length_tag(source: Source) -> bool:
    """Whether an MP3's first frame carries a Xing/Info or VBRI tag (its frame count), which
    encoders write once the file is finished; without one FFmpeg guesses the length from the
    file's size."""
    head, start = _span(source, 0, 10), 0
    if len(head) == 10 and head[:3] == b"ID3":
        size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | (
            head[9] & 0x7F)
        start = 10 + size + (10 if head[5] & 0x10 else 0)
    frame = _span(source, start, 4096)
    sync = next((i for i in range(len(frame) - 1)
                 if frame[i] == 0xFF and frame[i + 1] & 0xE0 == 0xE0), None)
    if sync is None:
        return False
    first = frame[sync:sync + 200]
    return any(tag in first for tag in (b"Xing", b"Info", b"VBRI"))


def _flac_states_length(stream: av.AudioStream) -> bool:
    """Whether a FLAC's STREAMINFO states its total samples (0: an encoder that did not know)."""
    info = stream.codec_context.extradata or b""
    return len(info) >= 18 and int.from_bytes(info[10:18], "big") & ((1 << 36) - 1) > 0


def ogg_ends_cleanly(tail: bytes) -> bool | None:
    """Whether the bytes at an Ogg file's end finish with a whole page marked end-of-stream,
    as a finished recording does; False: a page cut or never marked; None: no page found."""
    pos = tail.rfind(b"OggS")
    while pos >= 0:
        if pos + 27 <= len(tail) and tail[pos + 4] == 0:  # stream structure version 0
            segments = tail[pos + 26]
            table_end = pos + 27 + segments
            if table_end > len(tail):
                return False
            end = table_end + sum(tail[pos + 27:table_end])
            if end > len(tail):
                return False  # the last page is cut
            if end == len(tail):
                return bool(tail[pos + 5] & 0x04)
        pos = tail.rfind(b"OggS", 0, pos)
    return None


def stated_length(container: av.container.InputContainer, stream: av.AudioStream | None,
                  source: Source) -> float | None:
    """The length the header states for `stream` (see the module's doc), None where it states
    none. Also what a video's audio track is checked against (`vision.container`)."""
    name = container.format.name
    if name == "wav":
        return wav_declared_s(_span(source, 0, _WAV_HEAD))
    if name == "mp3":
        if not _mp3_has_length_tag(source):
            return None
    elif name == "flac":
        if stream is None or not _flac_states_length(stream):
            return None
    elif name not in _STATED_BY_HEADER:
        return None
    if stream is not None and stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return container.duration / av.time_base if container.duration else None


def probe(source: Source) -> MediaProbe:
    """What `source` (a path, or a file's bytes) holds, from its header: nothing is decoded.

    Raises:
      AudioError: missing, empty, or not a container FFmpeg can open.
    """
    container, _ = _open(source)
    with container:
        audio = container.streams.audio[0] if container.streams.audio else None
        return MediaProbe(
            format=container.format.name,
            duration_s=container.duration / av.time_base if container.duration else None,
            declared_s=stated_length(container, audio, source),
            audio_streams=len(container.streams.audio),
            video_streams=len(container.streams.video),
            channels=int(audio.codec_context.channels or 1) if audio else 0,
            sample_rate=int(audio.codec_context.sample_rate or 0) if audio else 0,
            codec=audio.codec_context.name if audio else None)


def read_audio(source: Source, max_s: float | None = None) -> DecodedAudio:
    """Decode `source` (a path or a file's bytes: audio, or the first audio track of a video)
    to 16 kHz float32 channels, at most `max_s` seconds of it (None: all).

    Demuxing stops at `max_s`: the result is then `beyond_max` and holds exactly `max_s`
    seconds. Otherwise the file is read to its end, and `damage` says what it lost (the
    module's doc); what was read is returned either way.

    Raises:
      AudioError: the file is missing, unreadable, has no audio track or no samples.
    """
    container, name = _open(source)
    with container:
        if not container.streams.audio:
            raise AudioError("文件中没有音轨 (no audio track)")
        stream = container.streams.audio[0]
        track = AudioTrack(stream, max_s)
        try:
            for packet in container.demux(stream):
                if not track.packet(packet):
                    break
        except av.error.FFmpegError as e:  # the read itself failed: the rest is lost
            track.error(str(e))
        declared = stated_length(container, stream, source)
        ends = (ogg_ends_cleanly(_span(source, -_OGG_TAIL, _OGG_TAIL))
                if container.format.name == "ogg" and not track.beyond_max else None)
    decoded = track.finish(declared, ends)
    if decoded is None:
        raise AudioError("没有可解码的音频 (no decodable audio)")
    logger.debug("decoded %s: %d channel(s), %.1f s%s", name, decoded.source_channels,
                 decoded.duration_s, f", incomplete: {decoded.damage.summary()}"
                 if decoded.damage else "")
    return decoded
