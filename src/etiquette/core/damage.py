"""What decoding found missing from a recording, for one track: its audio or its pictures.

The adapters that decode (`speech.audio` for audio, `vision.container` for a video's pictures)
fill it in; batch and live report it (the `incomplete` line) and the judges leave alone what
depends on what is not there. Pure records: nothing here decodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from etiquette.core.sessions import Unheard


class Track(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"


@dataclass(frozen=True)
class Damage:
    """What decoding found missing from one track of a recording.

    Positions (`cut_at_s`, `first_error_s`, each `Unheard.at_s`) are seconds into the track as
    decoded. For audio that is the audio as concatenated, where the speech around a loss sits
    in `DecodedAudio.channels`; for video it is the file's own timeline (pictures keep their
    timestamps), so each loss of pictures is the span `at_s`..`at_s + lost_s`."""

    declared_s: float | None  # the length the header states
    read_s: float  # the track's timeline as read: for audio, decoded plus the gaps it skipped;
    # for video, the end of the last picture seen
    cut_at_s: float | None  # the track read stops here, short of the end the file declares (for
    # audio the shortfall may also lie where decode errors were: an MP3's demuxer skips what it
    # cannot read without a jump in its timestamps), or where a file's end marker is missing
    errors: int  # packets that failed to decode, pictures flagged corrupt, a read that failed
    gaps: int  # jumps ahead in the timestamps with no decode error: skipped between two frames
    first_error_s: float | None
    unheard: tuple[Unheard, ...]  # every loss, for the judges
    track: Track = Track.AUDIO

    @property
    def lost_spans(self) -> tuple[tuple[float, float | None], ...]:
        """A video's losses as (start, end) spans of the file's timeline (end None: unknown).
        Empty for audio, whose positions are not the file's timeline."""
        if self.track is not Track.VIDEO:
            return ()
        return tuple((u.at_s, None if u.lost_s is None else u.at_s + u.lost_s)
                     for u in self.unheard)

    def summary(self) -> str:
        """For the logs, in English."""
        declared = "none" if self.declared_s is None else f"{self.declared_s:.1f} s"
        cut = "" if self.cut_at_s is None else f", cut at {self.cut_at_s:.1f} s"
        return (f"{self.track}: declared {declared}, read {self.read_s:.1f} s{cut}, "
                f"{self.errors} decode error(s), {self.gaps} gap(s)")

    def message(self) -> str:
        """For the user, in Chinese, with an English gloss as the other file errors have."""
        video = self.track is Track.VIDEO
        parts = []
        if self.cut_at_s is not None:
            if self.declared_s is not None and self.declared_s > self.read_s:
                parts.append(f"文件头记载时长 {self.declared_s:.1f} 秒，只读出 "
                             f"{self.read_s:.1f} 秒{'画面' if video else ''}")
            else:
                parts.append(f"文件在第 {self.cut_at_s:.1f} 秒处中断，结尾缺失")
        if self.errors:
            where = (f"，首处约在第 {self.first_error_s:.1f} 秒"
                     if self.first_error_s is not None else "")
            parts.append(f"{self.errors} 处{'画面' if video else ''}无法解码{where}")
        if self.gaps:
            parts.append(f"{self.gaps} 处{'画面' if video else '音频'}跳失")
        if not video:
            return "录音不完整 (recording incomplete): " + "；".join(parts)
        lost = sum((end if end is not None else start) - start for start, end in self.lost_spans)
        if lost > 0:
            parts.append(f"共缺失约 {lost:.1f} 秒画面，其中不判定离岗")
        return "视频不完整 (video incomplete): " + "；".join(parts)
