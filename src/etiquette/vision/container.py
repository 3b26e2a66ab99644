"""A recording file in one pass: audio for the speech path and sampled frames for presence.

Why PyAV and not OpenCV for files: OpenCV's VideoCapture reads pictures only, so a video with
a sound track would be opened and demuxed twice (once by OpenCV for frames, once by FFmpeg for
audio). Here the container is opened once, its packets are read once in file order, audio
packets go to the speech path's own decoder (`speech.audio.AudioTrack`: the same steps and
settings as for an audio file, so speech results do not depend on how a file arrived), and
video packets are decoded, with only the frames due at the sampling rate converted to pixels
and handed on. Live cameras (device, RTSP, HTTP) go through OpenCV instead: `camera.py`.

A recording cut short or damaged is analysed as far as its pictures go, and said to be so
(`MediaRead.video_damage`, as `speech.audio` reports a damaged audio track): pictures that
fail to decode or come out flagged corrupt are lost, and so is every picture predicted from
them until the next key frame (it decodes, but from a damaged reference: not what the camera
saw); so are stretches with no pictures, at the start, between two pictures or at an end that
falls short of the length the header states. Each loss is announced (`on_loss`) in time order
before the first frame after it, so that the presence path never takes lost time for an empty
seat (`core.presence.tracker.PresenceTracker.lose`). As with PCM audio, damage a codec cannot
notice (garbage that still decodes) is not found. A track none of which decodes is lost whole
(its pictures, or `MediaRead.audio_lost`) while the other is analysed; a file in which
nothing decodes is an error, as is an MP4 whose index (moov) is missing: a recorder that died
before writing it leaves nothing FFmpeg can place.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import av

from etiquette.core.damage import Damage, Track
from etiquette.core.sessions import Unheard
from etiquette.speech.audio import AudioTrack, DecodedAudio, stated_length
from etiquette.vision.frames import FrameSample, Sampler, VideoError

logger = logging.getLogger("etiquette.vision.container")

# The end of the pictures may fall this far short of the duration the header states
# (audio often runs a little longer than video) before the file counts as cut short.
CUT_SHORT_TOLERANCE_S = 1.5
# Pictures missing this long (or 2.5 frame intervals, at low frame rates) are a loss.
LOSS_MIN_S = 1.0
# A picture output up to this long before a damaged one may be predicted from it (B-frames are
# output before the later picture they refer to): sampled frames are held back this long, and
# dropped when damage shows within it.
_HOLD_S = 1.0
_MAX_LOSSES = 1000  # losses listed; more are merged into the last one


@dataclass(frozen=True)
class MediaInfo:
    duration_s: float | None  # as the container's header states it
    created_at: datetime | None  # the container's creation_time tag, as cameras and NVRs write it
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    fps: float | None = None


@dataclass(frozen=True)
class MediaRead:
    info: MediaInfo
    audio: DecodedAudio | None  # None: the file has no audio track (its own `damage` says what
    # the audio lost)
    video_end_s: float  # end of the last picture seen (0 without video)
    frames_sampled: int
    video_damage: Damage | None = None  # pictures the file lost (None: complete, as far as the
    # file lets it be checked); what was seen was handed on all the same
    audio_lost: Damage | None = None  # an audio track none of which decodes (`audio` None),
    # the pictures analysed all the same


class _Pictures:
    """A video track's decoded pictures → the sampled frames handed on, in time order, with
    the pictures lost on the way noted (the module's doc)."""

    def __init__(self, sample_fps: float, frame_s: float,
                 on_frame: Callable[[FrameSample], object] | None,
                 on_loss: Callable[[float], object] | None) -> None:
        self.sampler = Sampler(sample_fps)
        self.frame_s = frame_s
        self.min_loss_s = max(LOSS_MIN_S, 2.5 * frame_s)
        self.on_frame, self.on_loss = on_frame, on_loss
        self.seen_end = 0.0  # end of the last picture seen (handed on, or passed over as not due)
        self.seen = 0  # pictures seen
        self.sampled = 0
        self.errors = 0
        self.gaps = 0
        self.first_error_s: float | None = None
        self._last_error_s: float | None = None
        self._newest = -1.0  # time of the newest picture taken
        # (time, length, pixels of a due one) of the pictures held back
        self._held: deque[tuple[float, float, av.VideoFrame | None]] = deque()
        self._damaged_since: float | None = None  # pictures from here to a key frame are lost
        self._losses: list[Unheard] = []

    def error(self, at_s: float, why: str) -> None:
        """A picture at `at_s` failed to decode or came out corrupt: it, the pictures predicted
        from it and those held that may be are lost."""
        self.errors += 1
        if self.first_error_s is None:
            self.first_error_s = at_s
        self._last_error_s = at_s
        logger.debug("picture lost at %.2f s: %s", at_s, why)
        self._damaged_since = (at_s if self._damaged_since is None
                               else min(self._damaged_since, at_s))
        while self._held and self._held[-1][0] >= at_s - _HOLD_S:
            self._held.pop()
        self._newest = self._held[-1][0] if self._held else self.seen_end - self.frame_s

    def picture(self, vf: av.VideoFrame, t: float) -> None:
        """Take the next decoded picture, at `t` into the track."""
        if vf.is_corrupt:
            self.error(t, "corrupt picture")
            return
        if self._damaged_since is not None:
            if not (vf.key_frame and t > self._damaged_since):
                return  # predicted from a damaged picture
            self._damaged_since = None
        if t <= self._newest:
            return  # out of order: a late picture of a damaged stretch
        self._newest = t
        # A picture lasts until the next (a camera that writes frames only when something moves
        # makes long ones): its own duration where the stream gives it.
        length = (float(vf.duration * vf.time_base) if vf.duration and vf.time_base is not None
                  else self.frame_s)
        self._held.append((t, length, vf if self.sampler.due(t) else None))
        while self._held and self._held[0][0] < t - _HOLD_S:
            self._see(*self._held.popleft())

    def _see(self, t: float, length: float, vf: av.VideoFrame | None) -> None:
        if t - self.seen_end > self.min_loss_s:
            self._lose(self.seen_end, t - self.seen_end)
        self.seen_end = max(self.seen_end, t + length)
        self.seen += 1
        if vf is not None and self.on_frame is not None:
            self.on_frame(FrameSample(t, vf.to_ndarray(format="bgr24")))
            self.sampled += 1

    def _lose(self, at_s: float, lost_s: float | None, at_end: bool = False) -> None:
        """Pictures lost from `at_s`, `lost_s` long; unless an error or the end (a cut) lost
        them, they were skipped (a gap)."""
        caused = self._last_error_s is not None and self._last_error_s >= at_s - _HOLD_S
        self.gaps += 0 if caused or at_end else 1
        if len(self._losses) < _MAX_LOSSES:
            self._losses.append(Unheard(at_s, lost_s))
        else:
            last = self._losses[-1]
            self._losses[-1] = Unheard(last.at_s, None if lost_s is None
                                       else at_s + lost_s - last.at_s)
        if self.on_loss is not None:
            self.on_loss(at_s)

    def finish(self, declared_s: float | None, packets_end_s: float, read_failed: bool
               ) -> Damage | None:
        """Hand on what is held and say what was lost: `declared_s`, the length the header
        states, and `packets_end_s`, where the packets read end, are compared with the end of
        the pictures seen; `read_failed`: reading the file broke off there."""
        while self._held:
            self._see(*self._held.popleft())
        end = max(declared_s or 0.0, packets_end_s)
        if end - self.seen_end > max(CUT_SHORT_TOLERANCE_S, self.min_loss_s):
            self._lose(self.seen_end, end - self.seen_end, at_end=True)
        elif read_failed:
            self._lose(self.seen_end, None, at_end=True)
        short = declared_s is not None and declared_s - packets_end_s > CUT_SHORT_TOLERANCE_S
        cut_at = self.seen_end if short or read_failed else None
        if not self._losses and not self.errors:
            return None
        return Damage(declared_s, self.seen_end, cut_at, self.errors, self.gaps,
                      self.first_error_s, tuple(self._losses), Track.VIDEO)


def _mp4_index_missing(path: Path) -> bool:
    """Whether `path` is an MP4/MOV whose top-level boxes end without the index (moov), as a
    recording does when the recorder died or the copy broke off before it was written."""
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8 or head[4:8] != b"ftyp":
            return False
        size, pos = path.stat().st_size, 0
        while pos + 8 <= size:
            f.seek(pos)
            box = f.read(16)
            length, kind = int.from_bytes(box[:4], "big"), box[4:8]
            if kind == b"moov":
                return False
            if length == 1 and len(box) == 16:
                length = int.from_bytes(box[8:16], "big")
            if length == 0:  # the last box, to the end of the file
                return True
            if length < 8:
                return False  # not boxes: leave the verdict to FFmpeg
            pos += length
        return True


def _created_at(container: av.container.InputContainer) -> datetime | None:
    raw = container.metadata.get("creation_time")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        logger.warning("ignoring unreadable creation_time %r", raw)
        return None
    if moment.tzinfo is None:
        return None  # a naive stamp could be any zone: the file time is the safer guess
    # Muxers write 1970-01-01 or similar when nobody set the tag.
    return moment if moment.year >= 2000 else None


@dataclass(frozen=True)
class PicturesLost:
    """Pictures are lost from `at_s` until the next frame handed on (`read_media`'s `on_loss`)."""

    at_s: float


class MediaReader:
    """`read_media` as a stream: iterating hands on the due frames and the losses in time order
    (the module's doc), while the file is read; `result` is the `MediaRead` once the iteration
    has ended by itself. Stopping early (closing the iterator) closes the file. The live camera
    replays a file this way (`vision.camera`).

    `frames` False: pictures are decoded (and checked) but none is handed on.
    """

    def __init__(self, path: str | Path, sample_fps: float, want_audio: bool = True,
                 frames: bool = True) -> None:
        self.path, self.sample_fps = Path(path), sample_fps
        self.want_audio, self.frames = want_audio, frames
        self.result: MediaRead | None = None

    def __iter__(self) -> Generator[FrameSample | PicturesLost]:
        """Raises:
          VideoError: as `read_media`.
        """
        path, sample_fps, want_audio = self.path, self.sample_fps, self.want_audio
        pending: deque[FrameSample | PicturesLost] = deque()
        if not path.is_file():
            raise VideoError("文件不存在 (no such file)")
        if path.stat().st_size == 0:
            raise VideoError("文件为空 (empty file)")
        try:
            container = av.open(str(path), mode="r", metadata_errors="ignore")
        except av.error.FFmpegError as e:
            if _mp4_index_missing(path):
                raise VideoError("无法打开 (cannot open): 文件缺少索引 (moov)，录制或复制未完成，"
                                 "其中的画面和声音都无法定位读取") from e
            raise VideoError(f"无法打开 (cannot open): {e}") from e
        with container:
            video = container.streams.video[0] if container.streams.video else None
            audio = container.streams.audio[0] if container.streams.audio and want_audio else None
            if video is None and not container.streams.audio:
                raise VideoError("文件中没有音轨也没有视频轨 (no audio or video track)")
            # The pictures' own duration where the header has it: the audio may run longer.
            if video is not None and video.duration is not None and video.time_base is not None:
                header_s: float | None = float(video.duration * video.time_base)
            else:
                header_s = container.duration / av.time_base if container.duration else None
            info = MediaInfo(
                duration_s=header_s, created_at=_created_at(container), has_video=video is not None,
                has_audio=bool(container.streams.audio),
                width=video.codec_context.width if video else 0,
                height=video.codec_context.height if video else 0,
                fps=float(video.average_rate) if video and video.average_rate else None)
            streams = [s for s in (video, audio) if s is not None]
            sink = AudioTrack(audio) if audio else None
            if video is not None:
                video.thread_type = "AUTO"
            t0 = (float(video.start_time * video.time_base)
                  if video and video.start_time and video.time_base else 0.0)
            pictures = _Pictures(sample_fps, 1.0 / info.fps if info.fps else 0.0,
                                 pending.append if self.frames else None,
                                 lambda at_s: pending.append(PicturesLost(at_s)))
            packets_end, read_failed = 0.0, False
            try:
                for packet in container.demux(streams):
                    while pending:  # what the last packet gave
                        yield pending.popleft()
                    if packet.stream is audio:
                        assert sink is not None
                        # A damaged audio frame is skipped, and counted.
                        sink.packet(cast("av.Packet[av.AudioStream]", packet))
                        continue
                    # Threaded decoding hands frames back late: place an error by its packet.
                    at = (float(packet.pts * packet.time_base) - t0 if packet.pts is not None
                          else packets_end)
                    if packet.pts is not None:
                        length = (float(packet.duration * packet.time_base) if packet.duration
                                  else pictures.frame_s)
                        packets_end = max(packets_end, at + length)
                    try:
                        decoded = packet.decode()
                    except av.error.EOFError:
                        continue  # the decoder was flushed already
                    except av.error.FFmpegError as e:
                        pictures.error(at, str(e))
                        continue
                    for vf in decoded:
                        assert isinstance(vf, av.VideoFrame)  # demuxed from the video stream
                        pictures.picture(vf, (vf.time - t0) if vf.time is not None
                                         else pictures.seen_end)
            except av.error.FFmpegError as e:  # the read itself failed: the rest is lost
                read_failed = True
                logger.debug("%s: read failed: %s", path, e)
                pictures.error(packets_end, str(e))
                if sink is not None:
                    sink.error(str(e))
            audio_declared = stated_length(container, audio, path) if audio else None
        damage = (pictures.finish(header_s, packets_end, read_failed) if video is not None
                  else None)
        while pending:  # the last pictures held, the loss at the end
            yield pending.popleft()
        decoded_audio = sink.finish(audio_declared) if sink else None
        # What decodes is analysed, the rest reported lost; with nothing at all, the file fails.
        if video is not None and not pictures.seen and decoded_audio is None:
            why = ""
            if damage is not None and damage.cut_at_s is not None and damage.declared_s:
                why = f"：文件不完整 (cut short)，文件头记载时长 {damage.declared_s:.1f} 秒"
            elif damage is not None and damage.errors:
                why = f"：{damage.errors} 处画面无法解码 (corrupt video)"
            raise VideoError("没有可解码的画面 (no decodable video frames)" + why)
        audio_lost = None
        if sink is not None and decoded_audio is None:
            if video is None:
                raise VideoError("音轨中没有可解码的音频 (no decodable audio in the audio track)")
            audio_lost = sink.lost(audio_declared)
        logger.debug("%s: %s video to %.1f s, %d frames sampled, audio %s%s", path,
                     "with" if video else "no", pictures.seen_end, pictures.sampled,
                     f"{decoded_audio.duration_s:.1f} s" if decoded_audio else "none",
                     f", incomplete: {damage.summary()}" if damage else "")
        self.result = MediaRead(info, decoded_audio, pictures.seen_end, pictures.sampled,
                                damage, audio_lost)


def read_media(path: str | Path, sample_fps: float,
               on_frame: Callable[[FrameSample], object] | None = None,
               want_audio: bool = True,
               on_loss: Callable[[float], object] | None = None) -> MediaRead:
    """Read `path` once: decode its audio (if wanted) and hand every due frame to `on_frame`,
    and to `on_loss` the time from which pictures were lost, before the first frame after the
    loss (the module's doc). A file cut short or damaged is read as far as it goes; its
    `video_damage` (and its audio's `damage`) say what it lost.

    Raises:
      VideoError: missing, empty or unreadable file (an MP4 without its index); no audio and no
        video track; nothing in its tracks that decodes.
    """
    reader = MediaReader(path, sample_fps, want_audio, frames=on_frame is not None)
    for item in reader:
        if isinstance(item, PicturesLost):
            if on_loss is not None:
                on_loss(item.at_s)
        elif on_frame is not None:
            on_frame(item)
    assert reader.result is not None  # the iteration ran to its end
    return reader.result
