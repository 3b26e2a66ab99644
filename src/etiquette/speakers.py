"""Who spoke, on a window with one microphone: staff or citizen, with a confidence and a reason.

A stereo window knows its speakers by microphone (`etiquette.segment`); a mono one does not, and
every utterance used to count as the staff's, so a citizen's 我不知道 was flagged against the
staff member. Four kinds of evidence are weighed here, each measured in
benchmarks/speakers_results.md:

1. voice: the utterances of one service session are split into two voices by signal features
   (median pitch by YIN, mean MFCCs and spectral tilt of the voiced frames), with a check that
   the two voices really differ; a session of one voice, or two alike, gives no voice evidence;
2. anchors: an utterance that says a phrase only staff say (the greeting 您好，请问您需要办理什么
   业务, 请您出示, 请稍候, 我马上为您办理, 请收好您的材料…) is the staff's, and so is its voice;
3. turn-taking: staff and citizen mostly take turns;
4. role cues in the words: a citizen says 我想办 / 我要办 / 我来办, asks where and what to bring,
   calls the staff 你们; staff address the citizen as 您 and ask for materials.

They are combined in a two-state hidden Markov model over the session's utterances (states staff
and citizen, switching as turn-taking says), with the unknown pairing of the two voice clusters
to the two roles summed over. An utterance is given a role only when the evidence makes it
likely enough; otherwise it is UNKNOWN, with the reason (voices not separated, words and voice
disagreeing, no way to tell which voice is the staff's).

Pure: utterances and transcripts in, attributions out; numpy only. Per-utterance features are
cached, so live can call `SpeakerAttributor.attribute` again with each new utterance.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from etiquette.matching import Pattern, find
from etiquette.records import SAMPLE_RATE, Speaker, Transcript, Utterance

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


@dataclass(frozen=True)
class VoiceFeatures:
    """What one utterance's voice sounds like, in numbers.

    Attributes:
      voiced_s: seconds of voiced speech the statistics rest on (reliability).
      pitch_st: median F0 of the voiced frames, semitones above 100 Hz; None when unvoiced.
      timbre: mean MFCC c1..c12 of the voiced frames, then the spectral tilt (dB per octave).
    """

    voiced_s: float
    pitch_st: float | None
    timbre: np.ndarray = field(repr=False)


def _frames(audio: np.ndarray, length: int) -> np.ndarray:
    n = 1 + (len(audio) - length) // _HOP if len(audio) >= length else 0
    if n <= 0:
        return np.zeros((0, length), dtype=np.float32)
    idx = np.arange(length)[None, :] + _HOP * np.arange(n)[:, None]
    return audio[idx]


def _mel_filters() -> np.ndarray:
    """Triangular mel filters over the FFT bins, 60 Hz to 7.6 kHz (the HTK mel scale)."""
    def mel(f: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def hz(m: np.ndarray) -> np.ndarray:
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    edges = hz(np.linspace(mel(np.array(60.0)), mel(np.array(7600.0)), _N_MELS + 2))
    bins = np.fft.rfftfreq(_NFFT, 1.0 / SAMPLE_RATE)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


_MEL = _mel_filters()
_MEL_HZ = 700.0 * (10 ** (np.linspace(2595 * np.log10(1 + 60 / 700), 2595 * np.log10(1 + 7600 / 700),
                                       _N_MELS + 2)[1:-1] / 2595.0) - 1.0)
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
    loud = level >= level.max() - _SPEECH_DB
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
