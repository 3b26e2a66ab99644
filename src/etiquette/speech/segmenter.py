"""Voice activity: cut each microphone's speech into utterances and say whose they are.

A window has a staff microphone and a citizen microphone; each also picks up the other side
(crosstalk). Speech belongs to a channel only where that microphone hears it clearly louder
than the other one does, so the citizen's words leaking into the staff microphone never count
as the staff's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from etiquette.core.records import SAMPLE_RATE, Speaker, Utterance
from etiquette.speech.audio import DecodedAudio
from etiquette.speech.silero import FRAME as VAD_FRAME
from etiquette.speech.silero import SileroStream, silero_probs

# Speech probabilities of many streams in one call (`silero_probs`, or a `SharedSilero`).
Vad = Callable[[Sequence[SileroStream], Sequence[np.ndarray]], list[np.ndarray]]

logger = logging.getLogger("etiquette.speech.segmenter")

_FRAME = SAMPLE_RATE // 50  # 20 ms
# The live stream's energy is measured once, in pieces both frames are made of (20 ms = 5,
# Silero's 32 ms = 8): the crosstalk check of each VAD frame and the levels of each cut.
_PIECE = 64


@dataclass(frozen=True)
class SegmenterOptions:
    """Attributes:
    staff_channel / citizen_channel: which input channel is which microphone.
    vad_threshold: Silero speech probability above which a frame is speech.
    min_silence_ms: a pause this long ends an utterance.
    speech_pad_ms: audio kept either side of detected speech.
    max_utterance_s: longer speech is split (an utterance must fit one 30 s Whisper input).
    min_speech_ms: shorter bursts are dropped as clicks and coughs.
    crosstalk_margin_db: own microphone must be this much louder than the other one.
    """

    staff_channel: int = 0
    citizen_channel: int = 1
    vad_threshold: float = 0.5
    min_silence_ms: int = 500
    speech_pad_ms: int = 200
    max_utterance_s: float = 20.0
    min_speech_ms: int = 250
    crosstalk_margin_db: float = 6.0


def _speech_spans(audio: np.ndarray, options: SegmenterOptions) -> list[tuple[int, int]]:
    vad = VadOptions(
        threshold=options.vad_threshold,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
        max_speech_duration_s=options.max_utterance_s,
        min_speech_duration_ms=options.min_speech_ms,
    )
    return [(s["start"], s["end"]) for s in get_speech_timestamps(audio, vad)]


def _frame_db(audio: np.ndarray) -> np.ndarray:
    n = len(audio) // _FRAME
    frames = audio[: n * _FRAME].reshape(n, _FRAME).astype(np.float64)
    db: np.ndarray = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-10)
    return db


def _dominant_runs(own_db: np.ndarray, other_db: np.ndarray, span: tuple[int, int],
                   options: SegmenterOptions) -> list[tuple[int, int]]:
    """Sample ranges inside `span` where this microphone is the one being spoken into."""
    f0, f1 = span[0] // _FRAME, min(-(-span[1] // _FRAME), len(own_db))
    mask = own_db[f0:f1] >= other_db[f0:f1] + options.crosstalk_margin_db
    # Close short gaps (unvoiced consonants are quiet on both microphones).
    gap = max(1, options.min_silence_ms * 50 // 1000)
    runs: list[list[int]] = []
    for i in np.flatnonzero(mask):
        if runs and i - runs[-1][1] <= gap:
            runs[-1][1] = int(i) + 1
        else:
            runs.append([int(i), int(i) + 1])
    pad = options.speech_pad_ms * SAMPLE_RATE // 1000
    min_len = options.min_speech_ms * SAMPLE_RATE // 1000
    kept = []
    for a, b in runs:
        start = max(span[0], (f0 + a) * _FRAME - pad)
        end = min(span[1], (f0 + b) * _FRAME + pad)
        if (b - a) * _FRAME >= min_len:
            kept.append((start, end))
    return kept


def _is_dual_mono(left: np.ndarray, right: np.ndarray) -> bool:
    """A mono recording saved as two identical channels carries no speaker information."""
    scale = float(np.mean(np.abs(left)) + np.mean(np.abs(right))) + 1e-9
    return float(np.mean(np.abs(left - right))) < 0.01 * scale


def _roles(options: SegmenterOptions) -> dict[int, Speaker]:
    roles = {options.staff_channel: Speaker.STAFF, options.citizen_channel: Speaker.CITIZEN}
    if set(roles) != {0, 1}:
        raise ValueError(f"staff_channel and citizen_channel must be 0 and 1 in some order, "
                         f"got {options.staff_channel} and {options.citizen_channel}")
    return roles


def _channel_utterances(channels: Sequence[np.ndarray], ch: int, speaker: Speaker, source: str,
                        window_id: str, options: SegmenterOptions, offset: int = 0,
                        levels: Sequence[np.ndarray] | None = None) -> list[Utterance]:
    """One channel's utterances in `channels` (which begin `offset` samples into the stream)."""
    audio = channels[ch]
    spans = _speech_spans(audio, options)
    if len(channels) == 1:
        runs = spans
    else:
        levels = levels if levels is not None else [_frame_db(c) for c in channels]
        runs = [run for span in spans for run in _dominant_runs(levels[ch], levels[1 - ch], span,
                                                                 options)]
    return [Utterance(source, window_id, speaker, ch, (offset + s) / SAMPLE_RATE,
                      (offset + e) / SAMPLE_RATE, audio[s:e]) for s, e in runs]


def segment(audio: DecodedAudio, source: str, window_id: str,
            options: SegmenterOptions | None = None) -> list[Utterance]:
    """Utterances of every channel, in time order, each attributed to staff, citizen or unknown."""
    options = options or SegmenterOptions()
    channels = audio.channels
    if len(channels) == 2 and _is_dual_mono(*channels):
        logger.info("%s: both channels carry the same signal; treating it as mono", source)
        channels = channels[:1]
    if len(channels) == 1:
        return _channel_utterances(channels, 0, Speaker.UNKNOWN, source, window_id, options)
    levels = [_frame_db(c) for c in channels]
    utterances = [u for ch, speaker in _roles(options).items()
                  for u in _channel_utterances(channels, ch, speaker, source, window_id, options,
                                               levels=levels)]
    return sorted(utterances, key=lambda u: (u.start_s, u.channel))


class StreamSegmenter:
    """Cuts one window's live audio into utterances as each one ends.

    Silero's speech probability is computed once per 32 ms frame as audio arrives (`vad`: a
    `SharedSilero` puts every window's frames in one model call; by default this window's two
    channels make one call). When a channel has had speech followed by a pause that ends an
    utterance, the audio since that channel's last cut is segmented exactly as a recording is
    (`segment`'s per-channel step, crosstalk check included), so live and batch attribute
    speech the same way; the levels that step compares are those measured as the audio came,
    not measured again. Audio no channel still needs is dropped: memory stays bounded by the
    longest utterance.
    """

    def __init__(self, source: str, window_id: str, channels: int,
                 options: SegmenterOptions | None = None, vad: Vad | None = None) -> None:
        if channels not in (1, 2):
            raise ValueError(f"a window has one or two microphones, got {channels} channels")
        self.source, self.window_id = source, window_id
        self.options = options or SegmenterOptions()
        self.roles = {0: Speaker.UNKNOWN} if channels == 1 else _roles(self.options)
        self._buffer = _Rows(channels, np.float32)
        self._base = 0  # stream sample index of _buffer[0] (a multiple of _PIECE)
        # Mean square of each whole _PIECE of the buffer, per channel, from _base on.
        self._power = _Rows(channels, np.float64)
        self._vad_pos = 0  # stream samples whose speech probability is known
        self._start = [0] * channels  # where each channel's next utterance may begin
        self._speech = [False] * channels  # speech seen on the channel since its start
        self._quiet: list[int | None] = [None] * channels  # where the trailing pause began
        self._vads = [SileroStream() for _ in range(channels)]
        self._vad = vad or silero_probs

    @property
    def samples(self) -> int:
        """Stream samples fed so far."""
        return self._base + len(self._buffer)

    def feed(self, block: np.ndarray) -> list[Utterance]:
        """Take the next block (frames × channels, float32, 16 kHz); utterances that ended."""
        channels = self._buffer.columns
        if block.ndim != 2 or block.shape[1] != channels:
            raise ValueError(f"expected blocks of {channels} channels, got shape {block.shape}")
        self._buffer.append(block)
        pieces = len(self._buffer) // _PIECE
        done = len(self._power)
        if pieces > done:
            new = self._buffer.rows[done * _PIECE:pieces * _PIECE].astype(np.float64)
            self._power.append(np.mean(new.reshape(pieces - done, _PIECE, -1) ** 2, axis=1))
        return self._advance(final=False)

    def flush(self) -> list[Utterance]:
        """The end of the stream: whatever speech is left, as utterances."""
        out = self._advance(final=True)
        self._start = [max(s, self.samples) for s in self._start]  # nothing more is to come
        return out

    def cut_until_s(self, channel: int) -> float:
        """Stream seconds before which the channel's speech is all cut: its next utterance
        begins there or later."""
        return self._start[channel] / SAMPLE_RATE

    def _db(self, start: int, frames: int, size: int) -> np.ndarray:
        """dB of `frames` frames of `size` samples from stream sample `start` (both multiples
        of _PIECE), per channel: (frames, channels)."""
        k, per = (start - self._base) // _PIECE, size // _PIECE
        power = self._power.rows[k:k + frames * per].reshape(frames, per, -1).mean(axis=1)
        db: np.ndarray = 10 * np.log10(power + 1e-10)
        return db

    def _advance(self, final: bool) -> list[Utterance]:
        o = self.options
        n = (self.samples - self._vad_pos) // VAD_FRAME
        if n:
            a = self._vad_pos - self._base
            new = self._buffer.rows[a:a + n * VAD_FRAME]
            db = self._db(self._vad_pos, n, VAD_FRAME)
            probs = self._vad(self._vads, [new[:, ch] for ch in range(len(self._vads))])
            for ch, p in enumerate(probs):
                if len(self._vads) == 2:
                    # The other side's voice leaking in is speech to the VAD but not this
                    # microphone's: only frames where it is the louder one count.
                    own = db[:, ch] >= db[:, 1 - ch] + self.options.crosstalk_margin_db
                    p = np.where(own, p, 0.0)
                self._track(ch, p, self._vad_pos)
            self._vad_pos += n * VAD_FRAME
        pad = o.speech_pad_ms * SAMPLE_RATE // 1000
        # A pause of min_silence ends an utterance (as in a recording); waiting longer held an
        # utterance back whenever a short pause followed it, until the next one ended. The cut
        # lies `pad` into the pause, so the pause must also leave the next utterance its `pad`.
        pause = max(o.min_silence_ms * SAMPLE_RATE // 1000, 2 * pad)
        keep = pad + o.min_silence_ms * SAMPLE_RATE // 1000  # the VAD may start a little early
        longest = int(o.max_utterance_s * SAMPLE_RATE) + SAMPLE_RATE
        out: list[Utterance] = []
        for ch, speaker in self.roles.items():
            quiet = self._quiet[ch]
            if not self._speech[ch]:
                # Nothing to keep but the lead-in a coming utterance's padding needs.
                self._start[ch] = max(self._start[ch], _whole(self._vad_pos - keep))
            elif final:
                out += self._cut(ch, speaker, self.samples)
            elif quiet is not None and self._vad_pos - quiet >= pause:
                # Cut just after the speech (its padding), before anything that follows.
                out += self._cut(ch, speaker, quiet + pad)
            elif self._vad_pos - self._start[ch] > longest:
                out += self._cut(ch, speaker, self._vad_pos)
        drop = min(self._start) - self._base
        if drop > 0:
            self._buffer.drop(drop)
            self._power.drop(drop // _PIECE)
            self._base += drop
        return sorted(out, key=lambda u: (u.start_s, u.channel))

    def _track(self, ch: int, probs: np.ndarray, at: int) -> None:
        """Silero's own hysteresis: a pause begins at the first frame below the end-of-speech
        threshold and lasts until a frame reaches the speech threshold again. Only where to
        cut is decided here; the utterances themselves come from `_channel_utterances`."""
        o = self.options
        silent = max(o.vad_threshold - 0.15, 0.01)
        for i, p in enumerate(probs):
            if p >= o.vad_threshold:
                self._speech[ch] = True
                self._quiet[ch] = None
            elif p < silent and self._quiet[ch] is None:
                self._quiet[ch] = at + i * VAD_FRAME

    def _cut(self, ch: int, speaker: Speaker, end: int) -> list[Utterance]:
        start = self._start[ch]
        a, b = start - self._base, end - self._base
        held = self._buffer.rows
        channels = [held[a:b, c] for c in range(held.shape[1])]
        db = self._db(start, (end - start) // _FRAME, _FRAME)
        found = _channel_utterances(channels, ch, speaker, self.source, self.window_id,
                                    self.options, offset=start,
                                    levels=[db[:, c] for c in range(db.shape[1])])
        # The next utterance begins where this one ends, on a whole piece (at most 4 ms back:
        # the lead-in the VAD and the padding leave is far longer).
        self._start[ch], self._speech[ch], self._quiet[ch] = _whole(end), False, None
        # Own the audio: a view would keep the whole buffer alive as long as the utterance.
        return [replace(u, audio=u.audio.copy()) for u in found]


class _Rows:
    """A growing array: rows appended at the end, dropped from the front. What is kept is not
    copied on each append (a concatenation copied a whole utterance's audio every block)."""

    def __init__(self, columns: int, dtype: type[np.floating]) -> None:
        self._data = np.zeros((SAMPLE_RATE, columns), dtype=dtype)
        self._start = self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    @property
    def columns(self) -> int:
        return int(self._data.shape[1])

    @property
    def rows(self) -> np.ndarray:
        return self._data[self._start:self._end]

    def append(self, rows: np.ndarray) -> None:
        n = len(rows)
        if self._end + n > len(self._data):  # move what is kept to the front, grown if need be
            kept = self.rows
            data = self._data
            if 2 * (len(kept) + n) > len(data):
                data = np.empty((2 * (len(kept) + n), self.columns), dtype=data.dtype)
            data[:len(kept)] = kept  # numpy copies overlapping ranges correctly
            self._data, self._start, self._end = data, 0, len(kept)
        self._data[self._end:self._end + n] = rows
        self._end += n

    def drop(self, n: int) -> None:
        self._start += n


def _whole(sample: int) -> int:
    """`sample` rounded down to a whole _PIECE of the stream."""
    return max(0, sample) // _PIECE * _PIECE
