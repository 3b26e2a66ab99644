"""The recogniser: faster-whisper over packed utterances, words mapped back to their sources.

Whisper pads every input to 30 s, so a 2 s utterance costs as much as 30 s of audio. The
recogniser packs utterances (of one window or of many) into full inputs separated by short
silences, transcribes the inputs in batches, and gives every word back to the utterance it
came from by its timestamp. Words that land in the silence between utterances are text on
non-speech and are dropped. A batch whose inputs are all short (a live batch of what arrived
in the last seconds, a short recording) is encoded without the padding that would take it to
30 s: CTranslate2 encodes any length, and the encoder and the decoder's attention cost in
proportion to it. The part-filled input that ends a batch of full ones is encoded so too.

Decoding is in Mandarin (MANDARIN), but each utterance's language is also identified, from
the encoder output the decoding computes anyway (no second encoder pass): Whisper's language
token is one decoder step over that utterance's own frames of it (CTranslate2's
`Whisper.detect_language` takes encoder output as well as features).
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from etiquette.core.records import MANDARIN, SAMPLE_RATE, Transcript, Utterance, Word
from etiquette.models import ModelError, resolve_model
from etiquette.speech.text_guard import Guard, clean_words

logger = logging.getLogger("etiquette.speech.recogniser")

INPUT_S = 30.0  # Whisper's input length
TRAILING_S = 6.0  # padding kept after the longest input of a batch (see _trimmed_pipeline)
SILENCE_RMS = 10 ** (-70 / 20)  # below -70 dBFS there is nothing to hear
PROMPT_TOKENS = 223  # the most of a prompt Whisper keeps: half its 448-token context, less one
PLACEHOLDER = re.compile(r"（[^）]*）|×+")  # the specification's blanks: ××材料（证件）
TOP_LANGUAGES = 3  # identified languages kept per utterance (and Mandarin's, wherever it ranks)
Languages = tuple[tuple[str, float], ...]  # (Whisper language code, probability), best first
# What CTranslate2 4.x (built for CUDA 12) loads when it first computes on a GPU.
GPU_LIBRARIES = ("libcublas.so.12", "libcublasLt.so.12", "libcudnn.so.9", "libcudnn_ops.so.9",
                 "libcudnn_cnn.so.9")
GPU_HINT = ("用 GPU 需要 NVIDIA 驱动，以及 CTranslate2 所需的 CUDA 12 cuBLAS 和 cuDNN 9 库在 "
            "LD_LIBRARY_PATH 中（见 README：GPU and big CPUs），或改用 device: cpu")


@dataclass(frozen=True)
class RecogniserOptions:
    """Attributes:
    model: a name in models/manifest.yaml, a faster-whisper model directory, or a hub name.
    device / compute_type / cpu_threads / num_workers: passed to faster-whisper (CTranslate2);
      num_workers > 1 lets threads decode in parallel; cpu_threads 0: this machine's cores
      shared among the workers.
    beam_size / batch_size: decoding search width and inputs per batch.
    initial_prompt / hotwords: optional text that biases decoding.
    rule_prompt: bias decoding toward the rules' phrases too (their words, not their blanks,
      as many as Whisper's prompt holds after initial_prompt; see `phrase_prompt`). Off by
      default: it found more phrases in a voice Whisper hears badly but also wrote pieces of
      the prompt where they were not said (benchmarks/results.md, "Hard voices and rooms").
    no_speech_threshold / log_prob_threshold: a segment above the first and below the second
      is treated as silence (Whisper's own rule).
    gap_s: silence placed between packed utterances, so words keep to their utterance.
    part_inputs: a call's first pass is transcribed in parts of at most this many packed
      inputs (32: about 16 min of speech), each packed and decoded on its own, so that a
      cluster can share a long recording's parts out and still give what one machine gives
      (`first_pass`). Calls of less speech are one part.
    """

    model: str = "whisper-base"
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 0
    num_workers: int = 1
    beam_size: int = 5
    batch_size: int = 8
    initial_prompt: str | None = None
    hotwords: str | None = None
    rule_prompt: bool = False
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    gap_s: float = 0.5
    part_inputs: int = 32
    models_dir: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Decoding:
    """How a call decodes, besides the model: the prompt (`initial_prompt`, and the rules'
    phrases with `rule_prompt`) and the beam. A shared pool decodes each site's utterances with
    the site's own (`speech.remote_recogniser`)."""

    prompt: str | None
    beam_size: int


@dataclass(frozen=True)
class _Placed:
    utterance: Utterance
    start_s: float  # position in the packed audio


def pack(utterances: Sequence[Utterance], gap_s: float, alone: bool = False
         ) -> tuple[np.ndarray, list[dict[str, float]], list[_Placed]]:
    """Lay utterances end to end into inputs of at most 30 s each (`alone`: one per input).

    Returns the packed audio, the [start, end] of each input in it (seconds), and where each
    utterance was placed.
    """
    pieces: list[np.ndarray] = []
    clips: list[dict[str, float]] = []
    placed: list[_Placed] = []
    gap = np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32)
    limit = INPUT_S - gap_s
    cursor, clip_start = 0.0, 0.0
    for u in utterances:
        audio = u.audio[: int((limit - gap_s) * SAMPLE_RATE)]  # never longer than one input
        length = len(audio) / SAMPLE_RATE
        if (alone or cursor - clip_start + gap_s + length > limit) and cursor > clip_start:
            clips.append({"start": clip_start, "end": cursor})
            clip_start = cursor
        pieces += [gap, audio]
        placed.append(_Placed(u, cursor + gap_s))
        cursor += gap_s + length
    if cursor > clip_start:
        pieces.append(gap)
        cursor += gap_s
        clips.append({"start": clip_start, "end": cursor})
    packed = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return packed, clips, placed


def parts_of(utterances: Sequence[Utterance], gap_s: float, inputs: int
             ) -> list[list[Utterance]]:
    """`utterances` cut, between two of them (so in silence), into runs that pack into at most
    `inputs` inputs each; packed alone, each run's inputs hold the utterances they held in the
    whole."""
    _, clips, placed = pack(utterances, gap_s)
    ends = [c["end"] for c in clips]
    parts: list[list[Utterance]] = []
    for p in placed:
        k = bisect.bisect_right(ends, p.start_s) // inputs
        if k == len(parts):
            parts.append([])
        parts[k].append(p.utterance)
    return parts


class Recogniser:
    """One loaded Whisper model, shared by every window and thread of a process."""

    def __init__(self, options: RecogniserOptions | None = None,
                 guard: Guard | None = None, phrases: Sequence[str] = ()) -> None:
        """`phrases`: the rules' phrases, which `options.rule_prompt` writes into the prompt."""
        from faster_whisper import WhisperModel

        self.options = options or RecogniserOptions()
        self.guard = guard or Guard.load()
        o = self.options
        path = resolve_model(o.model, o.models_dir)
        logger.info("loading model %s (%s, %s)", path, o.device, o.compute_type)
        where = f"无法加载模型 {path}（设备 {o.device}，{o.compute_type}）(cannot load)"
        # Checked first: a missing part of cuDNN aborts the process from inside cuDNN, past any
        # error handling, at the first encode.
        if o.device == "cuda" and (missing := missing_libraries(GPU_LIBRARIES)):
            raise ModelError(f"{where}：找不到 {'、'.join(missing)}；{GPU_HINT}")
        try:
            self.model = WhisperModel(path, device=o.device, compute_type=o.compute_type,
                                      cpu_threads=o.cpu_threads or threads_per_job(o.num_workers),
                                      num_workers=o.num_workers)
            # Features of the size the model takes (and a GPU's libraries) are first needed by
            # an encode: one of a second of silence now stops the start-up, not a recogniser
            # worker at the first utterance.
            self.model.encode(self.model.feature_extractor(np.zeros(SAMPLE_RATE, np.float32))
                              [:, :self.model.frames_per_second])
        except (RuntimeError, ValueError) as e:
            # CTranslate2 says what failed (no GPU, unknown compute type, features of the wrong
            # size) but not what to do about it.
            hint = f"；{GPU_HINT}" if o.device != "cpu" else ""
            raise ModelError(f"{where}：{e}{hint}") from e
        prompt = o.initial_prompt
        if o.rule_prompt and phrases:
            encode = self.model.hf_tokenizer.encode
            given = o.initial_prompt or ""
            prompt = given + phrase_prompt(phrases, lambda text: encode(
                given + text, add_special_tokens=False).ids) or None
        self.decoding = Decoding(prompt, o.beam_size)

    def _segments(self, packed: np.ndarray, clips: list[dict[str, float]],
                  spans: Sequence[tuple[float, float]], decoding: Decoding
                  ) -> tuple[list[Any], dict[int, Languages]]:
        """Whisper's segments of the packed inputs `clips`, and the languages of each of
        `spans` (start, end in the packed audio) by its index."""
        o = self.options
        # One pipeline per call: it keeps state between its batches, and workers call at once.
        pipeline = _trimmed_pipeline()(self.model, spans)
        segments, _ = pipeline.transcribe(
            packed, language=MANDARIN, task="transcribe", beam_size=decoding.beam_size,
            batch_size=o.batch_size, clip_timestamps=clips, word_timestamps=True,
            initial_prompt=decoding.prompt, hotwords=o.hotwords, temperature=0.0,
            no_speech_threshold=o.no_speech_threshold, log_prob_threshold=o.log_prob_threshold,
            # Timestamp tokens make Whisper end a segment at each gap, which keeps its word
            # times on the right utterance (measured: without them words drift across gaps).
            without_timestamps=False, vad_filter=False)
        return list(segments), pipeline.languages

    def transcribe(self, utterances: Sequence[Utterance], decoding: Decoding | None = None
                   ) -> list[Transcript]:
        """Transcripts of `utterances`, in the same order, in simplified Chinese, decoded as
        `decoding` says (default: as this recogniser's options say, `self.decoding`)."""
        decoding = decoding or self.decoding
        # Whisper writes text on digital silence ("你不认识…"); an utterance with no signal is
        # no speech, whatever cut it out.
        audible = [u for u in utterances if float(np.sqrt(np.mean(u.audio ** 2))) > SILENCE_RMS]
        parts = parts_of(audible, self.options.gap_s, self.options.part_inputs)
        heard = {id(u): t for part, got in zip(parts, self.first_pass(parts, decoding),
                                               strict=True)
                 for u, t in zip(part, got, strict=True)}
        # Whisper now and then skips a whole utterance of a packed input (measured: 急什么，忙着呢
        # came back empty beside two others and whole alone). Speech that gave no text at all is
        # decoded again among other neighbours, 1 s apart (one input for all of them, not one
        # each); what is still empty then, in an input of its own.
        for alone in (False, True):
            missed = [u for u in audible if not heard[id(u)].words and not heard[id(u)].dropped]
            if len(audible) == 1 or not missed:
                break
            heard.update(zip(map(id, missed), self._transcribe(missed, decoding, alone,
                                                               gap_s=1.0), strict=True))
        return [heard.get(id(u)) or Transcript(u.source, u.window_id, u.speaker, u.channel,
                                               u.start_s, u.end_s, ()) for u in utterances]

    def first_pass(self, parts: Sequence[Sequence[Utterance]], decoding: Decoding
                   ) -> list[list[Transcript]]:
        """Each part's transcripts, the part transcribed on its own (`transcribe_part`); here,
        one after another (`etiquette.cluster` shares them out)."""
        return [self.transcribe_part(part, decoding) for part in parts]

    def transcribe_part(self, utterances: Sequence[Utterance], decoding: Decoding
                        ) -> list[Transcript]:
        """One part of a first pass (`parts_of`), packed and decoded on its own."""
        return self._transcribe(utterances, decoding)

    def _transcribe(self, utterances: Sequence[Utterance], decoding: Decoding,
                    alone: bool = False, gap_s: float | None = None) -> list[Transcript]:
        o = self.options
        if not utterances:
            return []
        gap_s = o.gap_s if gap_s is None else gap_s
        packed, clips, placed = pack(utterances, gap_s, alone)
        starts = np.array([p.start_s for p in placed])
        ends = starts + np.array([p.utterance.duration_s for p in placed])
        segments, languages = self._segments(packed, clips, list(zip(starts, ends, strict=True)),
                                             decoding)
        words: list[list[Word]] = [[] for _ in placed]
        for seg in segments:
            silent = seg.no_speech_prob > o.no_speech_threshold
            if silent and seg.avg_logprob < o.log_prob_threshold:
                logger.debug("dropping silent segment %r", seg.text)
                continue
            for w in seg.words or []:
                # A word belongs where most of it lies: Whisper stretches words that border a
                # silence into it, so a midpoint would hand them to the neighbour.
                overlap = np.minimum(ends, w.end) - np.maximum(starts, w.start)
                k = int(np.argmax(overlap))
                if overlap[k] <= 0:
                    mid = (w.start + w.end) / 2
                    distance = np.maximum(np.maximum(starts - mid, mid - ends), 0.0)
                    k = int(np.argmin(distance))
                    if distance[k] > gap_s / 2:
                        continue  # in the silence between utterances: not speech
                p = placed[k]
                u = p.utterance
                start = u.start_s + max(0.0, w.start - p.start_s)
                end = u.start_s + min(u.duration_s, max(0.0, w.end - p.start_s))
                words[k].append(Word(w.word, round(float(start), 3),
                                     round(float(max(start, end)), 3),
                                     round(float(w.probability), 3)))
        result = []
        for k, (p, ws) in enumerate(zip(placed, words, strict=True)):
            u = p.utterance
            kept, dropped = clean_words(ws, self.guard, decoding.prompt)
            result.append(Transcript(u.source, u.window_id, u.speaker, u.channel, u.start_s,
                                     u.end_s, kept, dropped, languages=languages.get(k, ())))
        return result


def phrase_prompt(phrases: Iterable[str], encode: Callable[[str], Sequence[int]]) -> str:
    """`phrases` as a prompt that makes Whisper expect their words: each once, in order, without
    the specification's blanks, as many as fit in PROMPT_TOKENS of `encode` (empty: none)."""
    kept: list[str] = []
    for phrase in phrases:
        phrase = PLACEHOLDER.sub("", phrase).strip("，")
        if phrase and phrase not in kept and len(encode("。".join([*kept, phrase]) + "。")
                                                 ) <= PROMPT_TOKENS:
            kept.append(phrase)
    return "。".join(kept) + "。" if kept else ""


@functools.cache
def _trimmed_pipeline() -> type:
    """faster-whisper's batched pipeline, encoding short inputs only as long as they are (the
    longest plus `TRAILING_S`), not padded to 30 s. The short inputs that end a batch of full
    ones (the last, part-filled input of a recording or of a live batch) are encoded apart, at
    their own length. Measured in benchmarks/optimisations.md."""
    from faster_whisper import BatchedInferencePipeline

    class TrimmedPipeline(BatchedInferencePipeline):
        def __init__(self, model: Any, spans: Sequence[tuple[float, float]] = ()) -> None:
            cast(Callable[[Any], None], super().__init__)(model)  # faster-whisper: unannotated
            # The utterances (start, end in the packed audio, s) whose language is identified
            # as their inputs are encoded, and what was found, by index into `spans`.
            self.spans = spans
            self.languages: dict[int, Languages] = {}
            self._inputs: list[dict[str, Any]] = []  # the inputs being encoded

        def generate_segment_batched(self, features: np.ndarray, tokenizer: Any,
                                     options: Any) -> tuple[Any, Any]:
            encoded, output = super().generate_segment_batched(features, tokenizer, options)
            self.languages.update(identify_languages(self.model, encoded, self._inputs,
                                                     self.spans))
            return encoded, output

        def forward(self, features: np.ndarray, tokenizer: Any,
                    chunks_metadata: list[dict[str, Any]],
                    options: Any) -> Any:
            full = features.shape[-1]
            per_s = self.model.frames_per_second
            frames = [min(full, math.ceil(m["duration"] + TRAILING_S) * per_s)
                      for m in chunks_metadata]
            # Split only there, in order (the pipeline carries the last word's time from one
            # input to the next): a batch cut into more pieces loses more than it saves.
            cut = max((i + 1 for i, f in enumerate(frames) if f == full), default=0)
            results: list[Any] = []
            encode = cast(Callable[..., list[Any]], super().forward)  # faster-whisper: unannotated
            for run in (range(cut), range(cut, len(frames))):
                if run:
                    n = max(frames[i] for i in run)
                    n -= n % 2  # the encoder's convolution halves the frames
                    part = slice(run.start, run.stop)
                    self._inputs = chunks_metadata[part]
                    results += encode(np.ascontiguousarray(features[part, :, :n]),
                                      tokenizer, chunks_metadata[part], options)
            return results

    return TrimmedPipeline


def identify_languages(model: Any, encoded: Any, inputs: Sequence[dict[str, Any]],
                       spans: Sequence[tuple[float, float]]) -> dict[int, Languages]:
    """The most probable languages (TOP_LANGUAGES of them, and Mandarin's wherever it ranks)
    of each of `spans` (start, end in the packed audio, s) that lies in `inputs`
    (faster-whisper's chunks: offset, duration), by index into `spans`; told from `encoded`, the
    inputs' encoder output (a CTranslate2 StorageView, [inputs, frames, d_model]). Each span is
    judged on its own frames only, as the utterances packed beside it are often other speakers
    (the encoder's attention still carries a little of their sound into those frames)."""
    import ctranslate2

    if not spans or not inputs:
        return {}
    if encoded.device != "cpu":  # one input's frames are a few MB: copied to slice them
        encoded = encoded.to_device(ctranslate2.Device.cpu)
    frames = np.asarray(encoded)
    per_s = model.frames_per_second // model.input_stride  # encoder frames per second
    found: dict[int, Languages] = {}
    for i, chunk in enumerate(inputs):
        offset, end = chunk["offset"], chunk["offset"] + chunk["duration"]
        for k, (start_s, end_s) in enumerate(spans):
            if start_s < offset or start_s >= end:
                continue
            a = int((start_s - offset) * per_s)
            b = min(frames.shape[1], math.ceil((end_s - offset) * per_s))
            if b <= a:
                continue
            own = ctranslate2.StorageView.from_array(np.ascontiguousarray(frames[i:i + 1, a:b]))
            ranked = [(token.strip("<|>"), round(float(p), 3))
                      for token, p in model.model.detect_language(own)[0]]
            found[k] = tuple(pair for n, pair in enumerate(ranked)
                             if n < TOP_LANGUAGES or pair[0] == MANDARIN)
    return found


def missing_libraries(names: Sequence[str]) -> list[str]:
    """The shared libraries of `names` that the dynamic loader cannot find (Linux names; none
    elsewhere, where the names differ)."""
    if not sys.platform.startswith("linux"):
        return []
    missing = []
    for name in names:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return missing


def threads_per_job(jobs: int) -> int:
    """The cores this process may use, shared among `jobs` (CTranslate2's own default, 4
    threads, oversubscribes a small machine)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, jobs))
