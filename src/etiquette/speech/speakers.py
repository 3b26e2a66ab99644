"""Who spoke, on a window with one microphone: staff or citizen, with a confidence and a reason.

A stereo window knows its speakers by microphone (`etiquette.speech.segmenter`); a mono one does
not, and
every utterance used to count as the staff's, so a citizen's 我不知道 was flagged against the
staff member. Four kinds of evidence are weighed here, each measured in
benchmarks/speakers_results.md:

1. voice: the utterances of one service session are split into two voices twice, by
   voiceprints (speaker embeddings, `etiquette.speech.voiceprint`, compared by cosine) and by
   signal features (median pitch by YIN, mean MFCCs and spectral tilt of the voiced frames),
   each with a check that the two voices really differ and take turns; the split that tells
   more surely two voices apart and which is the staff's is used (each fails where the other
   does not: benchmarks/results.md, "One microphone"); a session of one voice, or of two alike,
   gives no voice evidence;
2. anchors: an utterance that says a phrase only staff say (the greeting 您好，请问您需要办理什么
   业务, 请您出示, 请稍候, 我马上为您办理, 请收好您的材料…) is the staff's;
3. turn-taking: staff and citizen mostly take turns;
4. role cues in the words: a citizen says 我想办 / 我要办 / 我来办, asks what to bring and where
   to go, calls the staff 你们, hands things over (给你); staff ask for materials (请您…, 签字,
   递给我) and serve (为您, 我帮您).

Which of the two voices is the staff's is decided by the role phrases each voice said (the voice
heard around the phrase itself, so that a phrase inside an utterance that holds two turns votes
for the right voice). The utterances are then combined in a two-state hidden Markov model (staff,
citizen; switching as turn-taking says) whose evidence is each utterance's own words and voice.
An utterance is given a role only when that makes it likely enough; otherwise it is UNKNOWN,
with the reason (voices not separated, words and voice disagreeing, no way to tell which voice
is the staff's).

Scope: one service session of one window (two voices: its staff member and one citizen); a
recording of a whole day holds many citizens and is to be attributed session by session.
Utterances and transcripts in, attributions out; numpy, and the voice encoder loaded once per
process. Per-utterance work is cached, so live can call `SpeakerAttributor.attribute` again as
each utterance arrives.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from etiquette.core.matching import Pattern, find
from etiquette.core.records import SAMPLE_RATE, Speaker, Transcript, Utterance, heard_as
from etiquette.speech.voiceprint import shared_encoder

# ----------------------------------------------------------------------------- voice features

_HOP = SAMPLE_RATE // 100  # 10 ms
_MEL_FRAME = 400  # 25 ms
_NFFT = 512
_N_MELS = 40
_N_MFCC = 12  # c1..c12; c0 is loudness, which says more about distance to the microphone
_F0_WINDOW = 320  # 20 ms integration window of YIN
_F0_MIN, _F0_MAX = 60.0, 400.0  # Hz: the range of adult speaking voices
_F0_FRAME = _F0_WINDOW + int(SAMPLE_RATE / _F0_MIN) + 1
_YIN_THRESHOLD = 0.2  # cumulative-mean-normalised difference below which a frame is voiced
_SPEECH_DB = 35.0  # frames this far below the loudest frame of the utterance are not speech
_SILENCE_DB = -70.0  # frames below this RMS (dBFS) hold nothing to hear


@dataclass(frozen=True)
class VoiceFeatures:
    """What one utterance's voice sounds like, in numbers.

    Attributes:
      voiced_s: seconds of voiced speech the statistics rest on (reliability).
      pitch_st: median F0 of the voiced frames, semitones above 100 Hz.
      timbre: mean MFCC c1..c12 of the voiced frames, then the spectral tilt (dB per octave).
      voiceprint: the speaker embedding (etiquette.speech.voiceprint), where one was taken.
    """

    voiced_s: float
    pitch_st: float
    timbre: np.ndarray = field(repr=False)
    voiceprint: np.ndarray | None = field(default=None, repr=False)


def _frames(audio: np.ndarray, length: int) -> np.ndarray:
    n = 1 + (len(audio) - length) // _HOP if len(audio) >= length else 0
    if n <= 0:
        return np.zeros((0, length), dtype=np.float32)
    idx = np.arange(length)[None, :] + _HOP * np.arange(n)[:, None]
    frames: np.ndarray = audio[idx]
    return frames


def _mel(f: np.ndarray) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + f / 700.0)  # the HTK mel scale


def _hz(m: np.ndarray) -> np.ndarray:
    return 700.0 * (10 ** (m / 2595.0) - 1.0)


# Edges of 40 mel bands from 60 Hz to 7.6 kHz: each band rises from one edge to the next and
# falls to the one after.
_MEL_EDGES = _hz(np.linspace(_mel(np.array(60.0)), _mel(np.array(7600.0)), _N_MELS + 2))
_MEL_HZ = _MEL_EDGES[1:-1]  # the bands' centres


def _mel_filters() -> np.ndarray:
    """Triangular mel filters over the FFT bins."""
    bins = np.fft.rfftfreq(_NFFT, 1.0 / SAMPLE_RATE)
    lower, centre, upper = _MEL_EDGES[:-2, None], _MEL_EDGES[1:-1, None], _MEL_EDGES[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    filters: np.ndarray = np.maximum(0.0, np.minimum(rising, falling))
    return filters


_MEL = _mel_filters()
# DCT-II basis for c1..c12 of the log-mel bands.
_DCT = np.cos(np.pi / _N_MELS * (np.arange(_N_MELS)[None, :] + 0.5)
              * np.arange(1, _N_MFCC + 1)[:, None])
# Spectral tilt: the slope of the log-mel spectrum against log frequency, 100 Hz to 5 kHz.
_TILT_BANDS = (_MEL_HZ >= 100) & (_MEL_HZ <= 5000)
_TILT_X = np.log2(_MEL_HZ[_TILT_BANDS]) - np.log2(_MEL_HZ[_TILT_BANDS]).mean()


def _yin(frames: np.ndarray) -> np.ndarray:
    """F0 of each frame in Hz (YIN, de Cheveigné & Kawahara 2002), NaN where unvoiced."""
    if len(frames) == 0:
        return np.zeros(0)
    x = frames.astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    w, max_lag = _F0_WINDOW, frames.shape[1] - _F0_WINDOW
    n = 1 << int(math.ceil(math.log2(frames.shape[1] + w)))
    # r(τ) = Σ_{j<w} x_j x_{j+τ}, for every lag at once by FFT.
    r = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(x[:, :w], n)), n)[:, :max_lag]
    energy = np.cumsum(np.concatenate([np.zeros((len(x), 1)), x ** 2], axis=1), axis=1)
    e_lag = energy[:, w:w + max_lag] - energy[:, :max_lag]  # Σ_{j<w} x_{j+τ}²
    diff = energy[:, w:w + 1] + e_lag - 2 * r  # d(τ) = Σ (x_j - x_{j+τ})²
    cum = np.cumsum(diff[:, 1:], axis=1)
    cmnd = np.ones_like(diff)
    cmnd[:, 1:] = diff[:, 1:] * np.arange(1, max_lag)[None, :] / np.maximum(cum, 1e-12)
    lo, hi = int(SAMPLE_RATE / _F0_MAX), min(max_lag - 1, int(SAMPLE_RATE / _F0_MIN))
    band = cmnd[:, lo:hi]
    below = band < _YIN_THRESHOLD
    # The first dip under the threshold (YIN's step 4), followed to the bottom of that dip; the
    # first rather than the deepest dip avoids octave errors at twice the period.
    first = np.where(below.any(axis=1), below.argmax(axis=1), -1)
    f0 = np.full(len(x), np.nan)
    for i in np.flatnonzero(first >= 0):
        k = first[i]
        while k + 1 < band.shape[1] and band[i, k + 1] < band[i, k]:
            k += 1
        lag = float(lo + k)
        if 0 < k < band.shape[1] - 1:  # parabolic interpolation between lags
            a, b, c = band[i, k - 1], band[i, k], band[i, k + 1]
            denom = a - 2 * b + c
            if denom > 0:
                lag += 0.5 * (a - c) / denom
        f0[i] = SAMPLE_RATE / lag
    return f0


def voice_features(audio: np.ndarray) -> VoiceFeatures | None:
    """The voice statistics of one utterance (float32 mono at SAMPLE_RATE); None when it holds
    too little voiced speech to describe a voice."""
    audio = np.asarray(audio, dtype=np.float32).ravel()
    if len(audio) < _F0_FRAME or not np.all(np.isfinite(audio)):
        return None
    mel_frames = _frames(audio, _MEL_FRAME)
    f0_frames = _frames(audio, _F0_FRAME)
    n = min(len(mel_frames), len(f0_frames))
    mel_frames, f0_frames = mel_frames[:n], f0_frames[:n]
    spectrum = np.abs(np.fft.rfft(mel_frames * np.hanning(_MEL_FRAME), _NFFT)) ** 2
    log_mel = np.log10(spectrum @ _MEL.T + 1e-10) * 10.0  # dB
    level = log_mel.max(axis=1)
    # Speech: near the utterance's loudest frames, and audible at all (digital silence has a
    # perfectly periodic nothing that YIN would call voiced).
    rms_db = 10 * np.log10(np.mean(mel_frames.astype(np.float64) ** 2, axis=1) + 1e-20)
    loud = (level >= level.max() - _SPEECH_DB) & (rms_db > _SILENCE_DB)
    f0 = _yin(f0_frames)
    voiced = loud & np.isfinite(f0)
    if voiced.sum() < 10:  # under 0.1 s of voicing: no voice to speak of
        return None
    mfcc = log_mel[voiced] @ _DCT.T / _N_MELS
    bands = log_mel[voiced][:, _TILT_BANDS]
    tilt = (bands - bands.mean(axis=1, keepdims=True)) @ _TILT_X / float(_TILT_X @ _TILT_X)
    pitch = 12.0 * np.log2(f0[voiced] / 100.0)
    return VoiceFeatures(float(voiced.sum() * _HOP / SAMPLE_RATE), float(np.median(pitch)),
                         np.concatenate([mfcc.mean(axis=0), [tilt.mean()]]))


# ----------------------------------------------------------------------------- words

# Phrases only staff say: Appendix B's required phrases and their key parts. An utterance that
# says one is the staff's whatever its voice. Matched by sound (etiquette.core.matching.find), so
# Whisper's homophones (请稍后 for 请稍候) still count.
STAFF_PHRASES: tuple[str, ...] = (
    "您好，请问您需要办理什么业务", "请问您需要办理什么业务", "请问您要办理什么业务",
    "请问有什么可以帮您", "这里是××政务服务中心", "请您出示", "请稍候，我马上为您办理",
    "我马上为您办理", "请收好您的材料", "还有什么需要为您服务的吗", "您的业务已办好",
    "请慢走", "让您久等了", "请您补充材料", "我们不能为您办理", "请您谅解",
)
# Words of the citizen's role: asking to be served, asking what to bring and where to go,
# calling the staff 你们, asking for help, handing things over and thanking.
CITIZEN_CUES: tuple[str, ...] = (
    "我想办", "我要办", "我来办", "我想补办", "我要补办", "我想申请", "我想问", "我来领",
    "我想咨询", "需要带什么", "要带什么", "在哪里办", "在哪个窗口", "要多长时间", "需要多长时间",
    "什么时候能办好",
    "你们", "谢谢你", "麻烦你", "给你", "帮我办", "帮我看", "我不太会", "怎么填", "我填好了",
    "我只带了", "轮到我", "我排了",
)
# Words of the staff's role: asking for and handling materials, directing the citizen.
STAFF_CUES: tuple[str, ...] = (
    "请您", "为您", "请填写", "签字", "递给我", "下一位", "我帮您", "我带您", "复印件", "工作日",
    "通知您",
)
_ANCHOR_SCORE = 0.75  # how closely (etiquette.core.matching's score) a staff phrase must be heard
_CUE_SCORE = 0.85  # cues are short: they must be heard almost exactly
# Punctuation is left out before matching: Whisper puts commas where the speaker paused, and the
# matcher will not let a phrase run across a comma it does not have itself.
_PUNCT = re.compile(r"[，。！？、；：,.!?;:\s\"'“”‘’…]")
_SPAN_MIN_S = 0.8  # audio taken around a phrase to hear whose voice said it


def _patterns(phrases: Sequence[str], kind: str, score: float) -> tuple[Pattern, ...]:
    return tuple(Pattern(f"{kind}:{p}", p, p, score) for p in phrases)


@dataclass(frozen=True)
class Cue:
    """One role phrase found in a transcript's text."""

    kind: str  # "anchor" (staff-only phrase), "staff" or "citizen" (role cue)
    phrase: str
    char_start: int  # in the transcript's text
    char_end: int


@dataclass(frozen=True)
class WordEvidence:
    """What an utterance's words say about its speaker's role."""

    cues: tuple[Cue, ...] = ()

    def of(self, kind: str) -> tuple[str, ...]:
        return tuple(c.phrase for c in self.cues if c.kind == kind)

    @property
    def anchors(self) -> tuple[str, ...]:
        return self.of("anchor")

    @property
    def staff_cues(self) -> tuple[str, ...]:
        return self.of("staff")

    @property
    def citizen_cues(self) -> tuple[str, ...]:
        return self.of("citizen")


# ----------------------------------------------------------------------------- attribution


@dataclass(frozen=True)
class Attribution:
    """Whose an utterance is, how sure, and why (the reason is shown to a supervisor).

    Attributes:
      speaker: STAFF, CITIZEN, or UNKNOWN when the evidence does not settle it.
      confidence: 0..1, the probability that `speaker` is right; for UNKNOWN, that of the
        likelier role.
      reason: in Chinese, the evidence that decided (or why nothing did).
      staff_probability: the evidence combined, as the probability that staff said it.
      voice: which of the session's two voices said it ("A" or "B"), where the voices are told
        apart and this utterance's is clearly one of them; "" otherwise.
    """

    speaker: Speaker
    confidence: float
    reason: str
    staff_probability: float = 0.5
    voice: str = ""


@dataclass(frozen=True)
class AttributionOptions:
    """Attributes:
    use_voice / use_pitch / use_anchors / use_turns / use_cues: the kinds of evidence weighed
      (all on in use; the benchmark turns them on one by one).
    use_voiceprint: the voices are told apart by speaker embeddings (etiquette.speech.voiceprint)
      instead of pitch, MFCCs and tilt.
    decide_at: the probability a role needs before it is given; below it, UNKNOWN.
    switch_probability: how often the next utterance is the other speaker's (turn-taking;
      0.70 in the labelled sets).
    anchor_weight / cue_weight / staff_cue_weight: log-odds a staff phrase, a citizen cue and a
      staff cue add.
    talk_weight: log-odds for "the voice that talks more is the staff's" per unit of difference
      in talk share (weak by default: only the words should decide which voice is whose).
    separation_low / separation_high: the distance between the two voice clusters (in
      within-voice standard deviations) below which the voices count as not separated, and
      from which they count fully. One voice split in two measured 3-5 on the evaluation set
      (benchmarks/speakers_results.md). voiceprint_separation_low / _high: the same where the
      voices are told apart by voiceprints (cluster_voiceprints' units; read on the tune
      halves of the check sets and the held-out set, benchmarks/results.md).
    min_voiced_s: voiced speech an utterance needs for its voice to count fully.
    same_voice_at: the log-odds of voice A over B (either way) an utterance's own voice needs
      to be told as A's or B's (`Attribution.voice`): two utterances of one voice are one
      person's, even where which voice is the staff's is not settled.
    min_alternation: the share of neighbouring utterances in different voice clusters below
      which the split is not taken for two speakers (it counts fully from 0.15 above this):
      staff and citizen take turns (0.70 of neighbouring turns change speaker in the labelled
      sets), a split by content or intonation does not. Added after the held-out set's tuning
      half showed confident splits of one voice (citizen called staff: 7.3% -> 0%).
      voiceprint_min_alternation: the same for the voiceprints' split, which splits one voice
      by what is said more readily (at 0.3, 2 staff lines of the held-out set's tune half were
      called the citizen's; at 0.4 a citizen line of the evaluation set's eval17 the staff's).
    """

    use_voice: bool = True
    use_pitch: bool = True
    use_voiceprint: bool = True
    use_anchors: bool = True
    use_turns: bool = True
    use_cues: bool = True
    decide_at: float = 0.85
    switch_probability: float = 0.7
    anchor_weight: float = 4.0
    cue_weight: float = 1.5
    staff_cue_weight: float = 0.75
    talk_weight: float = 0.5
    separation_low: float = 4.0
    separation_high: float = 7.0
    min_voiced_s: float = 0.8
    same_voice_at: float = 2.0
    min_alternation: float = 0.3
    voiceprint_separation_low: float = 1.0
    voiceprint_separation_high: float = 2.0
    voiceprint_min_alternation: float = 0.5
    staff_phrases: tuple[str, ...] = STAFF_PHRASES
    citizen_cues: tuple[str, ...] = CITIZEN_CUES
    staff_cues: tuple[str, ...] = STAFF_CUES


# A priori spread of one voice's utterance statistics (pitch in semitones, MFCC c1..c12, tilt in
# dB/octave): the scale on which two voices are compared before a session has enough
# utterances to measure its own. Measured on recordings_sample/ (the spread of each labelled
# speaker's turns about their mean; not the evaluation set), rounded up.
_PRIOR_SD = np.array([1.5, 0.6, 0.3, 0.6, 0.45, 0.3, 0.3, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25, 0.5])
_PRIOR_WEIGHT = 4.0  # pseudo-utterances the prior spread counts for against a session's own
# The within-voice spread is never taken below the prior's: a session of a few near-identical
# utterances would otherwise make any difference look like two voices.
_VAR_FLOOR = 1.0
_VOICE_CLIP = 6.0  # the most log-odds one utterance's voice may carry


def _vector(f: VoiceFeatures, use_pitch: bool) -> np.ndarray:
    v = np.concatenate([[f.pitch_st], f.timbre])
    return v if use_pitch else v[1:]


@dataclass(frozen=True)
class VoiceClusters:
    """The session's utterances split into two voices, A and B.

    Attributes:
      members: for each utterance with voice features, its index and its cluster (0 = A, 1 = B).
      separation: the distance between the two clusters' means, in within-voice standard
        deviations.
      log_odds: per utterance with features, log p(voice | A) - log p(voice | B), each judged
        against the others (leave one out), weighted by how much voiced speech it has.
      means / var: the clusters' means and the within-voice variance of the features.
      voiceprints: where the voices were told apart by voiceprints, each cluster's (A's, B's),
        and `scale`, the log-odds per unit of "closer to A than to B" (mean cosines).
    """

    members: dict[int, int]
    separation: float
    log_odds: dict[int, float]
    means: np.ndarray = field(repr=False)
    var: np.ndarray = field(repr=False)
    use_pitch: bool = True
    voiceprints: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    scale: float = 0.0

    def log_odds_of(self, features: VoiceFeatures) -> float:
        """log p(voice | A) - log p(voice | B) of any stretch of speech."""
        if self.voiceprints is not None:
            if features.voiceprint is None:
                return 0.0
            a, b = (float(np.mean(v @ features.voiceprint)) for v in self.voiceprints)
            return self.scale * (a - b)
        x = _vector(features, self.use_pitch)
        return float(0.5 * (((x - self.means[1]) ** 2 - (x - self.means[0]) ** 2) / self.var).sum())


def _two_means(z: np.ndarray, w: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Weighted two-means (Lloyd) from `labels` until it settles. The features keep the
    prior's scale throughout: rescaling them by each split's own spread was measured to find
    no better splits of two voices, and tighter splits of one."""
    for _ in range(30):
        if labels.min() == labels.max():
            break
        means = np.stack([np.average(z[labels == k], axis=0, weights=w[labels == k])
                          for k in (0, 1)])
        new = np.argmin(((z[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _tightest_split(z: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """Labels (0/1) of the tightest two-way split of the rows of `z` (weighted `w`); None when
    every start collapses into one group (all alike: one voice).

    Two starts, the better kept: the farthest pair of rows, and the sign of the first principal
    component. (More starts, such as a split at the median of each feature, find tighter splits
    of one voice as readily as of two: measured, they cost more false separations than they
    win.)"""
    d2 = ((z[:, None, :] - z[None]) ** 2).sum(axis=2)
    far_a, far_b = np.unravel_index(np.argmax(d2), d2.shape)
    starts = [np.where(d2[:, far_a] <= d2[:, far_b], 0, 1)]
    centred = z - np.average(z, axis=0, weights=w)
    _, _, vt = np.linalg.svd(centred * np.sqrt(w)[:, None], full_matrices=False)
    starts.append((centred @ vt[0] > 0).astype(int))
    best, best_ss = None, math.inf
    for start in starts:
        labels = _two_means(z, w, start)
        if labels.min() == labels.max():
            continue
        means = np.stack([np.average(z[labels == k], axis=0, weights=w[labels == k])
                          for k in (0, 1)])
        ss = float((w[:, None] * (z - means[labels]) ** 2).sum())  # the tightest split wins
        if ss < best_ss:
            best, best_ss = labels, ss
    return best


def cluster_voices(features: dict[int, VoiceFeatures], use_pitch: bool = True,
                   min_voiced_s: float = 0.8) -> VoiceClusters | None:
    """Two voices among the utterances that have features (keyed by utterance index); None
    with fewer than two such utterances."""
    keys = sorted(features)
    if len(keys) < 2:
        return None
    x = np.stack([_vector(features[k], use_pitch) for k in keys])
    sd = _PRIOR_SD if use_pitch else _PRIOR_SD[1:]
    # Short utterances give noisy statistics: they count for less, in the means and the spread.
    w = np.clip(np.array([features[k].voiced_s for k in keys]) / min_voiced_s, 0.1, 1.0)
    best = _tightest_split(x / sd, w)
    if best is None:  # all utterances alike: one voice
        mean = np.average(x, axis=0, weights=w)
        return VoiceClusters({k: 0 for k in keys}, 0.0, {k: 0.0 for k in keys},
                             np.stack([mean, mean]), sd ** 2, use_pitch)
    means = np.stack([np.average(x[best == k], axis=0, weights=w[best == k]) for k in (0, 1)])
    # The within-voice spread: the session's own, shrunk toward the prior while it has few
    # utterances (two utterances alone would otherwise look like two perfectly tight voices).
    var = ((_PRIOR_WEIGHT * sd ** 2 + (w[:, None] * (x - means[best]) ** 2).sum(axis=0))
           / (_PRIOR_WEIGHT + w.sum()))
    var = np.maximum(var, _VAR_FLOOR * sd ** 2)
    separation = float(np.sqrt(((means[0] - means[1]) ** 2 / var).sum()))
    # Each utterance against the means of the others: an odd one out must not vouch for the
    # cluster it alone makes up.
    llr = np.zeros(len(keys))
    for i in range(len(keys)):
        own = best[i]
        rest = (best == own) & (np.arange(len(keys)) != i)
        if not rest.any():
            continue  # alone in its cluster: no voice to compare it with
        mine = np.average(x[rest], axis=0, weights=w[rest])
        mean_a, mean_b = (mine, means[1]) if own == 0 else (means[0], mine)
        llr[i] = 0.5 * (((x[i] - mean_b) ** 2 - (x[i] - mean_a) ** 2) / var).sum()
    return VoiceClusters({k: int(c) for k, c in zip(keys, best, strict=True)}, separation,
                         {k: float(v) for k, v in zip(keys, llr * w, strict=True)}, means, var,
                         use_pitch)


# A priori spread of "how much closer an utterance's voiceprint is to its own voice's than to
# the other's" (mean cosines), and the pseudo-utterances it counts for: measured on the check
# sets' and the held-out set's tune mono sessions (the scripts' own splits), rounded up.
_VOICEPRINT_PRIOR_SD = 0.08


def cluster_voiceprints(features: dict[int, VoiceFeatures], min_voiced_s: float = 0.8
                        ) -> VoiceClusters | None:
    """Two voices among the utterances that have voiceprints (keyed by utterance index), split
    by cosine; None with fewer than two.

    Each utterance is compared with the others of each cluster (the mean cosine to them, itself
    left out): d = own cluster's - other cluster's. Over the session d has a mean m and a spread
    s (shrunk toward the prior's while the session is short); two voices lie 2m/s apart in those
    units (`separation`), and any stretch of speech has log-odds 2m/s² per unit of d."""
    keys = sorted(k for k, f in features.items() if f.voiceprint is not None)
    if len(keys) < 2:
        return None
    x = np.stack([v for k in keys if (v := features[k].voiceprint) is not None])
    w = np.clip(np.array([features[k].voiced_s for k in keys]) / min_voiced_s, 0.1, 1.0)
    best = _tightest_split(x, w)
    if best is None:
        mean = x.mean(axis=0)
        return VoiceClusters({k: 0 for k in keys}, 0.0, {k: 0.0 for k in keys},
                             np.stack([mean, mean]), np.ones_like(mean), voiceprints=(x, x))
    return voiceprint_split(keys, x, w, best)


def voiceprint_split(keys: list[int], x: np.ndarray, w: np.ndarray, best: np.ndarray
                     ) -> VoiceClusters:
    """The voiceprints `x` (of utterances `keys`, weighted `w`) split as `best` (0 = A,
    1 = B) says, weighed as `cluster_voiceprints` describes."""
    cos = x @ x.T
    n = len(keys)
    own_minus_other = np.zeros(n)
    for i in range(n):
        own = (best == best[i]) & (np.arange(n) != i)
        other = best != best[i]
        if own.any():  # alone in its cluster: no voice to compare it with
            own_minus_other[i] = cos[i, own].mean() - cos[i, other].mean()
    m = float(np.average(own_minus_other, weights=w))
    var = ((_PRIOR_WEIGHT * _VOICEPRINT_PRIOR_SD ** 2
            + float((w * (own_minus_other - m) ** 2).sum())) / (_PRIOR_WEIGHT + w.sum()))
    var = max(var, _VAR_FLOOR * _VOICEPRINT_PRIOR_SD ** 2)
    scale = 2 * max(m, 0.0) / var
    sign = np.where(best == 0, 1.0, -1.0)
    means = np.stack([x[best == k].mean(axis=0) for k in (0, 1)])
    return VoiceClusters({k: int(c) for k, c in zip(keys, best, strict=True)},
                         2 * max(m, 0.0) / math.sqrt(var),
                         {k: float(v) for k, v in zip(keys, scale * own_minus_other * sign * w,
                                                      strict=True)},
                         means, np.ones(x.shape[1]), voiceprints=(x[best == 0], x[best == 1]),
                         scale=scale)


def _forward_backward(emit: np.ndarray, switch: float) -> np.ndarray:
    """P(staff) of each step of a two-state HMM (staff, citizen) whose emissions are given as
    log-odds staff:citizen and whose state changes with probability `switch`."""
    n = len(emit)
    log_e = np.stack([emit / 2, -emit / 2], axis=1)
    trans = np.log(np.array([[1 - switch, switch], [switch, 1 - switch]]))
    alpha = np.zeros((n, 2))
    alpha[0] = np.log(0.5) + log_e[0]
    for t in range(1, n):
        alpha[t] = log_e[t] + np.logaddexp.reduce(alpha[t - 1][:, None] + trans, axis=0)
    beta = np.zeros((n, 2))
    for t in range(n - 2, -1, -1):
        beta[t] = np.logaddexp.reduce(trans + (log_e[t + 1] + beta[t + 1])[None, :], axis=1)
    post = alpha + beta
    return np.exp(post[:, 0] - np.logaddexp(post[:, 0], post[:, 1]))


def _quote(items: Sequence[str], most: int = 2) -> str:
    return "".join(f"「{_PUNCT.sub('', s)}」" for s in items[:most])


def _short(text: str, most: int = 12) -> str:
    text = _PUNCT.sub("", text)
    return text if len(text) <= most else text[:most] + "…"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, x))))


@dataclass(frozen=True)
class _Vote:
    """A role phrase, heard in one voice: evidence of which cluster is the staff's."""

    k: int  # utterance (in time order)
    cue: Cue
    sign: int  # +1 staff, -1 citizen
    weight: float
    voice: float  # log-odds its voice is A's rather than B's


@dataclass(frozen=True)
class _Split:
    """The session's utterances split into two voices, and what the split says."""

    clusters: VoiceClusters | None
    strength: float  # 0..1, how far the two voices are told apart
    voice_lo: np.ndarray  # log-odds voice A:B of each utterance
    votes: list[_Vote]
    pairing: float  # log-odds that voice A is the staff's


@dataclass(frozen=True)
class _Analysis:
    """One session's evidence, its utterances in time order (index k)."""

    order: list[int]  # k -> the caller's index
    utts: list[Utterance]
    trans: list[Transcript | None]
    words: list[WordEvidence]
    text_lo: np.ndarray  # log-odds staff:citizen of each utterance's own words
    voice_lo: np.ndarray  # log-odds voice A:B of each utterance
    clusters: VoiceClusters | None
    strength: float  # 0..1, how far the two voices are told apart
    p_pair_a: float  # probability that voice A is the staff's
    votes: list[_Vote]
    p_staff: np.ndarray


class SpeakerAttributor:
    """Attributes the utterances of one window's service session to staff or citizen.

    Batch: call `attribute` once with all the session's utterances and transcripts. Live: keep
    one attributor per window and call `attribute` again with the session's utterances so far
    each time one arrives (its transcript may still be None); voice features and word evidence
    are computed once per utterance and cached, so a call costs the new utterance's features
    (the voiceprint most: about 50 ms per second of speech on one loaded core, the signal
    features a third of that) and a re-clustering of the session (milliseconds for a few dozen
    utterances).
    """

    def __init__(self, options: AttributionOptions | None = None, cache_size: int = 4096) -> None:
        self.options = options or AttributionOptions()
        o = self.options
        self._patterns = (*_patterns(o.staff_phrases, "anchor", _ANCHOR_SCORE),
                          *_patterns(o.citizen_cues, "citizen", _CUE_SCORE),
                          *_patterns(o.staff_cues, "staff", _CUE_SCORE))
        self._features: OrderedDict[Any, VoiceFeatures | None] = OrderedDict()
        self._words: OrderedDict[str, WordEvidence] = OrderedDict()
        self._cache_size = cache_size

    def with_options(self, options: AttributionOptions) -> SpeakerAttributor:
        """An attributor weighing evidence as `options` say, sharing this one's voice features
        (they do not depend on the options; the word evidence does)."""
        other = SpeakerAttributor(options, self._cache_size)
        other._features = self._features
        return other

    # -- per-utterance evidence, cached

    def _cached(self, key: Any, audio: np.ndarray) -> VoiceFeatures | None:
        if key in self._features:
            self._features.move_to_end(key)
            found = self._features[key]
        else:
            found = voice_features(audio)
        # Voiceprints cost more than the rest: taken where the voice is described at all, and
        # only by an attributor that weighs them (one sharing the cache may not).
        if found is not None and found.voiceprint is None and self.options.use_voiceprint:
            found = replace(found, voiceprint=shared_encoder().embed(audio))
        self._features[key] = found
        if len(self._features) > self._cache_size:
            self._features.popitem(last=False)
        return found

    def features(self, utterance: Utterance) -> VoiceFeatures | None:
        """Voice features of `utterance` (cached by its source, window, channel and times)."""
        return self._cached(heard_as(utterance), utterance.audio)

    def _span_features(self, utterance: Utterance, transcript: Transcript, cue: Cue
                       ) -> VoiceFeatures | None:
        """Voice features of the speech around a phrase: whose voice said it, even where the
        utterance holds two speakers' turns."""
        start, end = transcript.time_of(cue.char_start, cue.char_end)
        middle, half = (start + end) / 2, max(end - start, _SPAN_MIN_S) / 2
        a = max(0, int((middle - half - utterance.start_s) * SAMPLE_RATE))
        b = min(len(utterance.audio), int((middle + half - utterance.start_s) * SAMPLE_RATE))
        if b - a >= len(utterance.audio) * 0.8:
            return self.features(utterance)  # (nearly) the whole utterance
        return self._cached((heard_as(utterance), a, b), utterance.audio[a:b])

    def words(self, text: str) -> WordEvidence:
        """Role evidence in a transcript's text (cached by text)."""
        if text in self._words:
            self._words.move_to_end(text)
            return self._words[text]
        keep = [i for i, ch in enumerate(text) if not _PUNCT.match(ch)]
        plain = "".join(text[i] for i in keep)
        hits = find(plain, self._patterns) if plain else []
        cues = tuple(Cue(h.rule_id.split(":", 1)[0], h.phrase, keep[h.char_start],
                         keep[h.char_end - 1] + 1) for h in hits)
        # In order of speech; where phrases overlap, the longest first (it is the one quoted).
        found = WordEvidence(tuple(sorted(cues, key=lambda c: (c.char_start,
                                                               c.char_start - c.char_end))))
        self._words[text] = found
        if len(self._words) > self._cache_size:
            self._words.popitem(last=False)
        return found

    def _separations(self, clusters: VoiceClusters) -> tuple[float, float]:
        """The separations from which the two voices count at all, and fully."""
        o = self.options
        if clusters.voiceprints is not None:
            return o.voiceprint_separation_low, o.voiceprint_separation_high
        return o.separation_low, o.separation_high

    def _split(self, clusters: VoiceClusters | None, utts: list[Utterance],
               trans: list[Transcript | None], words: list[WordEvidence]) -> _Split:
        """A split of the session into two voices, weighed: how far apart, each utterance's
        voice log-odds, and which voice is the staff's."""
        o = self.options
        clusters, strength = self._strength(clusters)
        voice_lo = np.zeros(len(utts))  # + voice A, - voice B
        if clusters is not None:
            for k, v in clusters.log_odds.items():
                voice_lo[k] = float(np.clip(v * strength, -_VOICE_CLIP, _VOICE_CLIP))
        # Which voice is the staff's: each role phrase votes for the voice that said it (heard
        # around the phrase itself, so that a phrase in an utterance holding two turns votes for
        # the right one); with little else, the voice that talks more is the staff's, weakly.
        votes: list[_Vote] = []
        pairing = 0.0
        if clusters is not None and strength > 0:
            for k, (u, t, w) in enumerate(zip(utts, trans, words, strict=True)):
                for cue in w.cues:
                    weight = self._weight(cue)
                    f = self._span_features(u, t, cue) if weight and t is not None else None
                    if f is not None:
                        voice = clusters.log_odds_of(f) * strength
                        votes.append(_Vote(k, cue, 1 if weight > 0 else -1, abs(weight), voice))
                        pairing += weight * math.tanh(voice / 2)
            talk = np.zeros(2)
            for k, c in clusters.members.items():
                talk[c] += utts[k].duration_s
            pairing += o.talk_weight * (talk[0] - talk[1]) / max(float(talk.sum()), 1e-9)
            # Words of both roles heard in one voice and none in the other: the split set apart
            # something else than staff from citizen (one odd line, a change of language), and
            # the voice that greeted also asked to be served; its voices say nothing of who
            # spoke.
            heard = {(v.voice > 0, v.sign) for v in votes if abs(v.voice) > 1.0}
            if any({(side, 1), (side, -1)} <= heard
                   and not {(not side, 1), (not side, -1)} & heard for side in (True, False)):
                voice_lo[:], pairing = 0.0, 0.0
        return _Split(clusters, strength, voice_lo, votes, pairing)

    def _strength(self, clusters: VoiceClusters | None) -> tuple[VoiceClusters | None, float]:
        """A split of the session's voices, and how far it tells them apart (0..1)."""
        if clusters is None:
            return None, 0.0
        o = self.options
        low, high = self._separations(clusters)
        strength = float(np.clip((clusters.separation - low) / (high - low), 0.0, 1.0))
        # Two voices of a conversation take turns: a split whose clusters seldom follow each
        # other split something else (content, prosody), however far apart.
        seq = [clusters.members[k] for k in sorted(clusters.members)]
        least = (o.voiceprint_min_alternation if clusters.voiceprints is not None
                 else o.min_alternation)
        if len(seq) >= 4 and least > 0:
            alternation = float(np.mean(np.diff(seq) != 0))
            strength *= float(np.clip((alternation - least) / 0.15, 0.0, 1.0))
        return clusters, strength

    def _weight(self, cue: Cue) -> float:
        """Log-odds staff:citizen that one phrase adds (0 where that evidence is not used)."""
        o = self.options
        if cue.kind == "anchor":
            return o.anchor_weight if o.use_anchors else 0.0
        if not o.use_cues:
            return 0.0
        return o.staff_cue_weight if cue.kind == "staff" else -o.cue_weight

    def _text_log_odds(self, evidence: WordEvidence) -> float:
        """Log-odds staff:citizen of an utterance's own words: one staff phrase settles it;
        role cues add up, two of each kind at most (a sentence may repeat itself)."""
        weights = [(c.kind, self._weight(c)) for c in evidence.cues]
        anchor = max((w for kind, w in weights if kind == "anchor"), default=0.0)
        staff = sorted(w for kind, w in weights if kind == "staff")[-2:]
        citizen = sorted(w for kind, w in weights if kind == "citizen")[:2]
        return anchor + sum(staff) + sum(citizen)

    # -- the session

    def attribute(self, utterances: Sequence[Utterance],
                  transcripts: Sequence[Transcript | None] | None = None) -> list[Attribution]:
        """Staff, citizen or unknown for each of `utterances` (one window's session, any order;
        `transcripts[i]` is utterance i's, or None where it has none yet)."""
        if not utterances:
            return []
        a = self._analyse(utterances, transcripts)
        result: list[Attribution] = [Attribution(Speaker.UNKNOWN, 0.5, "")] * len(utterances)
        at = self.options.same_voice_at
        for k, i in enumerate(a.order):
            voice = "A" if a.voice_lo[k] >= at else "B" if a.voice_lo[k] <= -at else ""
            result[i] = replace(self._decide(k, a), voice=voice)
        return result

    def attribute_span(self, utterances: Sequence[Utterance],
                       transcripts: Sequence[Transcript | None], index: int, char_start: int,
                       char_end: int) -> Attribution:
        """Whose are characters [char_start, char_end) of `transcripts[index]`, such as a
        forbidden phrase the matcher found there?

        An utterance can hold two turns (the segmenter merges turns that follow each other
        closely), and a staff member's 听我的还是听你的 can sit in an utterance that the
        citizen's 你们 around it makes the citizen's. So a citizen utterance's words count as
        the citizen's only where the voice heard around them is the citizen's too; where it is
        not, they are UNKNOWN (judged, with the reason). Staff and unknown utterances answer as
        `attribute` does.
        """
        a = self._analyse(utterances, transcripts)
        k = a.order.index(index)
        whole = self._decide(k, a)
        transcript = a.trans[k]
        if whole.speaker != Speaker.CITIZEN or transcript is None:
            return whole
        features = self._span_features(a.utts[k], transcript, Cue("span", "", char_start, char_end))
        voice = 0.0
        if features is not None and a.clusters is not None:
            voice = a.clusters.log_odds_of(features) * a.strength * (2 * a.p_pair_a - 1)
        if voice <= -1.0:  # the citizen's voice said these words too
            return whole
        said = _short(transcript.text[char_start:char_end])
        p = _sigmoid(voice)  # the span's voice alone, as the probability it is the staff's
        return Attribution(Speaker.UNKNOWN, round(max(p, 1 - p), 3),
                           f"这句话整体像群众，但「{said}」这段的声音听不出是群众的"
                           f"（可能两人的话连在一起），无法判断", round(p, 3))

    def _analyse(self, utterances: Sequence[Utterance],
                 transcripts: Sequence[Transcript | None] | None) -> _Analysis:
        """The session's evidence, utterances in time order."""
        o = self.options
        n = len(utterances)
        if transcripts is None:
            transcripts = [None] * n
        if len(transcripts) != n:
            raise ValueError(f"{n} utterances but {len(transcripts)} transcripts")
        order = sorted(range(n), key=lambda i: (utterances[i].start_s, utterances[i].end_s))
        utts = [utterances[i] for i in order]
        trans = [transcripts[i] for i in order]
        words = [self.words(t.text) if t is not None else WordEvidence() for t in trans]
        text_lo = np.array([self._text_log_odds(w) for w in words])

        split = _Split(None, 0.0, np.zeros(n), [], 0.0)
        if o.use_voice:
            feats = {k: f for k, u in enumerate(utts) if (f := self.features(u)) is not None}
            splits = [self._split(cluster_voices(feats, o.use_pitch, o.min_voiced_s), utts,
                                  trans, words)]
            if o.use_voiceprint:
                splits.append(self._split(cluster_voiceprints(feats, o.min_voiced_s), utts,
                                          trans, words))
            # The voiceprints' split and the signal features' each fail on some sessions (a
            # voice made from the other by a pitch shift; one voice split by what it says):
            # the one that says more surely both that there are two voices and which is the
            # staff's is taken.
            split = max(splits, key=lambda c: c.strength * abs(math.tanh(c.pairing / 2)))
        clusters, strength, voice_lo, votes, pairing = (split.clusters, split.strength,
                                                        split.voice_lo, split.votes,
                                                        split.pairing)
        p_pair_a = _sigmoid(pairing)

        switch = o.switch_probability if o.use_turns else 0.5
        p_a = _forward_backward(text_lo + voice_lo, switch)  # if A is the staff's voice
        p_b = _forward_backward(text_lo - voice_lo, switch)  # if B is
        p_staff = p_pair_a * p_a + (1 - p_pair_a) * p_b
        return _Analysis(order, utts, trans, words, text_lo, voice_lo, clusters, strength,
                         p_pair_a, votes, p_staff)

    def _decide(self, k: int, a: _Analysis) -> Attribution:
        p, text_lo, voice_lo, words = float(a.p_staff[k]), float(a.text_lo[k]), a.voice_lo, a.words
        clusters, strength, p_pair_a, votes, utts = (a.clusters, a.strength, a.p_pair_a, a.votes,
                                                     a.utts)
        o = self.options
        p = min(1.0, max(0.0, p))
        w = words[k]
        own_voice = voice_lo[k] * (2 * p_pair_a - 1)  # + the staff's voice, - the citizen's
        leaning = f"（偏向{'工作人员' if p >= 0.5 else '群众'}，把握 {max(p, 1 - p):.0%}）"
        # Own words and own voice both clear and opposed (often two turns in one utterance):
        # say so rather than let one of them win.
        if abs(text_lo) >= o.cue_weight and abs(own_voice) >= 2.0 and text_lo * own_voice < 0:
            said = _quote(w.anchors or (w.citizen_cues if text_lo < 0 else w.staff_cues))
            voice_role, word_role = ("工作人员", "群众") if own_voice > 0 else ("群众", "工作人员")
            return Attribution(Speaker.UNKNOWN, round(max(p, 1 - p), 3),
                               f"声音像{voice_role}，但话语{said}像{word_role}（可能两人的话连在一起），"
                               f"无法判断" + leaning, round(p, 3))
        if p >= o.decide_at:
            speaker, role, sign = Speaker.STAFF, "工作人员", 1
        elif p <= 1 - o.decide_at:
            speaker, role, sign = Speaker.CITIZEN, "群众", -1
        else:
            return Attribution(Speaker.UNKNOWN, round(max(p, 1 - p), 3),
                               self._why_unknown(k, clusters, strength, p_pair_a, votes, utts)
                               + leaning, round(p, 3))
        parts: list[str] = []
        if sign > 0 and w.anchors and o.use_anchors:
            parts.append(f"说出了工作人员用语{_quote(w.anchors, 1)}")
        elif sign > 0 and w.staff_cues and o.use_cues:
            parts.append(f"话语像工作人员{_quote(w.staff_cues)}")
        if sign < 0 and w.citizen_cues and o.use_cues:
            parts.append(f"话语像群众{_quote(w.citizen_cues)}")
        if own_voice * sign > 1.0 and clusters is not None:
            parts.append(self._voice_reason(k, sign, clusters, p_pair_a, votes))
        if not parts:
            parts.append("按前后轮流对话推断")
        return Attribution(speaker, round(max(p, 1 - p), 3), "；".join(parts) + f"（{role}）",
                           round(p, 3))

    def _voice_reason(self, k: int, sign: int, clusters: VoiceClusters, p_pair_a: float,
                      votes: list[_Vote]) -> str:
        """"The same voice as the one that said …": the weightiest phrase said in that voice."""
        staff_voice = 1 if p_pair_a >= 0.5 else -1  # + A, - B
        mine = staff_voice * sign  # the cluster of this role, as + A / - B
        agreeing = [v for v in votes if v.k != k and v.sign == sign and v.voice * mine > 1.0]
        if agreeing:
            best = max(agreeing, key=lambda v: (v.weight, len(v.cue.phrase), abs(v.voice)))
            return f"与本次服务中说出「{_PUNCT.sub('', best.cue.phrase)}」的声音一致"
        other = [v for v in votes if v.sign != sign and v.voice * mine < -1.0]
        if other:
            best = max(other, key=lambda v: (v.weight, len(v.cue.phrase), abs(v.voice)))
            return f"与本次服务中说出「{_PUNCT.sub('', best.cue.phrase)}」的声音不同"
        return "与本次服务中说话较多的声音一致" if sign > 0 else "与本次服务中说话较多的声音不同"

    def _why_unknown(self, k: int, clusters: VoiceClusters | None, strength: float,
                     p_pair_a: float, votes: list[_Vote], utts: list[Utterance]) -> str:
        o = self.options
        if o.use_voice and clusters is not None and k not in clusters.members:
            return "语音太短或没有浊音，听不出是谁的声音，话语也不足以判断"
        if o.use_voice and clusters is None:
            return "本次服务中的语音还太少，无法比较声音，话语也不足以判断"
        if o.use_voice and clusters is not None and strength < 0.5:
            low, high = self._separations(clusters)
            if clusters.separation >= high:  # far apart, but not taking turns
                return ("本次服务中分出的两种声音很少轮流出现，不像两人对话"
                        "（可能是同一人换了语调或语言），话语也不足以判断")
            return (f"本次服务中两种声音区分不明显（差异 {clusters.separation:.1f}，"
                    f"需达到 {high:.1f}），话语也不足以判断")
        if o.use_voice and abs(p_pair_a - 0.5) < 0.35:
            # The roles each voice said words of: words of both roles in one voice, or words of
            # one role in both voices, contradict each other.
            heard = {(v.voice > 0, v.sign) for v in votes if abs(v.voice) > 1.0}
            if any((a, 1) in heard and (a, -1) in heard for a in (True, False)) or any(
                    (True, r) in heard and (False, r) in heard for r in (1, -1)):
                return ("能分出两种声音，但两种声音说的话相互矛盾（都说过工作人员或群众的话），"
                        "无法确定哪一个是工作人员")
            return ("能分出两种声音，但无法确定哪一个是工作人员"
                    "（没有听到迎声等工作人员用语或角色线索）")
        if o.use_voice and clusters is not None and abs(clusters.log_odds.get(k, 0.0)) < 1.0:
            return "声音介于两种声音之间（可能两人的话连在一起），无法判断"
        return "证据不足，无法判断说话人"


def attribute(utterances: Sequence[Utterance],
              transcripts: Sequence[Transcript | None] | None = None,
              options: AttributionOptions | None = None) -> list[Attribution]:
    """Staff, citizen or unknown for each utterance of one mono service session (batch).

    `transcripts[i]` belongs to `utterances[i]` (None where there is none). For repeated calls
    on a growing session (live), keep a `SpeakerAttributor`, which caches per-utterance work.
    """
    return SpeakerAttributor(options).attribute(utterances, transcripts)
