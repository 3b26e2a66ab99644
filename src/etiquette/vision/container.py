"""A recording file in one pass: audio for the speech path and sampled frames for presence.

Why PyAV and not OpenCV for files: OpenCV's VideoCapture reads pictures only, so a video with
a sound track would be opened and demuxed twice (once by OpenCV for frames, once by FFmpeg for
audio). Here the container is opened once, its packets are read once in file order, audio
packets go to the speech path's own decoder (`speech.audio.AudioTrack`: the same steps and
settings as for an audio file, so speech results do not depend on how a file arrived), and
video packets are decoded, with only the frames due at the sampling rate converted to pixels
and handed on. Live cameras (device, RTSP, HTTP) go through OpenCV instead: `camera.py`.

A video that is corrupt or cut short is an error, never a silent partial analysis; audio
packets that fail to decode are counted in the audio's `damage` (the file is then reported as
incomplete, its speech analysed as far as it goes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import cast

import av

from etiquette.speech.audio import AudioTrack, DecodedAudio
from etiquette.vision.frames import FrameSample, Sampler, VideoError

logger = logging.getLogger("etiquette.vision.container")

# The end of the pictures may fall this far short of the duration the header states
# (audio often runs a little longer than video) before the file counts as cut short.
CUT_SHORT_TOLERANCE_S = 1.5


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
    audio: DecodedAudio | None  # None: the file has no audio track
    video_end_s: float  # end of the last picture (0 without video)
    frames_sampled: int


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


def read_media(path: str | Path, sample_fps: float,
               on_frame: Callable[[FrameSample], object] | None = None,
               want_audio: bool = True) -> MediaRead:
    """Read `path` once: decode its audio (if wanted) and hand every due frame to `on_frame`.

    Raises:
      VideoError: missing, empty or unreadable file; no audio and no video; pictures that fail
        to decode; pictures that end well before the duration the header states; an audio
        track with nothing decodable in it.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError("文件不存在 (no such file)")
    if path.stat().st_size == 0:
        raise VideoError("文件为空 (empty file)")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.error.FFmpegError as e:
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
        sampler = Sampler(sample_fps)
        frame_s = 1.0 / info.fps if info.fps else 0.0
        video_end, sampled, bad, first_bad = 0.0, 0, 0, None
        try:
            for packet in container.demux(streams):
                if packet.stream is audio:
                    assert sink is not None
                    # A damaged audio frame is skipped, and counted.
                    sink.packet(cast("av.Packet[av.AudioStream]", packet))
                    continue
                # Threaded decoding hands frames back late: place an error by its packet.
                at = (float(packet.pts * packet.time_base) - t0 if packet.pts is not None
                      else video_end)
                try:
                    pictures = packet.decode()
                except av.error.InvalidDataError as e:
                    bad += 1
                    first_bad = first_bad if first_bad is not None else (at, str(e))
                    continue
                for vf in pictures:
                    assert isinstance(vf, av.VideoFrame)  # demuxed from the video stream
                    if vf.is_corrupt:
                        bad += 1
                        first_bad = first_bad if first_bad is not None else (at, "corrupt frame")
                        continue
                    t = (vf.time if vf.time is not None else video_end) - t0
                    video_end = max(video_end, t + frame_s)
                    if on_frame is not None and sampler.due(t):
                        on_frame(FrameSample(t, vf.to_ndarray(format="bgr24")))
                        sampled += 1
        except av.error.FFmpegError as e:
            raise VideoError(f"读取中断 (read failed at {video_end:.1f} s): {e}") from e
    # Cut short first: a file cut mid-packet also ends in an undecodable picture, and "cut
    # short at 44 s of 90 s" tells the operator more than "corrupt".
    if video is not None and header_s is not None and header_s - video_end > CUT_SHORT_TOLERANCE_S:
        raise VideoError(f"视频不完整 (video cut short): 画面在第 {video_end:.1f} 秒中断，"
                         f"文件头记载时长 {header_s:.1f} 秒")
    if bad:
        assert first_bad is not None
        raise VideoError(f"视频已损坏 (corrupt video): {bad} 处画面无法解码，首处约在第 "
                         f"{first_bad[0]:.1f} 秒 ({first_bad[1]})")
    if video is not None and video_end == 0.0:
        raise VideoError("没有可解码的画面 (no decodable video frames)")
    decoded = sink.finish() if sink else None
    if sink and decoded is None:
        raise VideoError("音轨中没有可解码的音频 (no decodable audio in the audio track)")
    logger.debug("%s: %s video to %.1f s, %d frames sampled, audio %s", path,
                 "with" if video else "no", video_end, sampled,
                 f"{decoded.duration_s:.1f} s" if decoded else "none")
    return MediaRead(info, decoded, video_end, sampled)
