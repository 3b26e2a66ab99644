"""The recogniser: faster-whisper over packed utterances, words mapped back to their sources.

Whisper pads every input to 30 s, so a 2 s utterance costs as much as 30 s of audio. The
recogniser packs utterances (of one window or of many) into full inputs separated by short
silences, transcribes the inputs in batches, and gives every word back to the utterance it
came from by its timestamp. Words that land in the silence between utterances are text on
non-speech and are dropped.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from etiquette.models import resolve_model
from etiquette.records import SAMPLE_RATE, Transcript, Utterance, Word
from etiquette.text import Guard, clean_words

logger = logging.getLogger("etiquette.transcribe")

INPUT_S = 30.0  # Whisper's input length
SILENCE_RMS = 10 ** (-70 / 20)  # below -70 dBFS there is nothing to hear


@dataclass(frozen=True)
class RecogniserOptions:
    """Attributes:
    model: a name in models/manifest.yaml, a faster-whisper model directory, or a hub name.
    device / compute_type / cpu_threads / num_workers: passed to faster-whisper (CTranslate2);
      num_workers > 1 lets threads decode in parallel; cpu_threads 0: this machine's cores
      shared among the workers.
    beam_size / batch_size: decoding search width and inputs per batch.
    initial_prompt / hotwords: optional text that biases decoding.
    no_speech_threshold / log_prob_threshold: a segment above the first and below the second
      is treated as silence (Whisper's own rule).
    gap_s: silence placed between packed utterances, so words keep to their utterance.
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
    no_speech_threshold: float = 0.6
    log_prob_threshold: float = -1.0
    gap_s: float = 0.5
    models_dir: Path | None = field(default=None, compare=False)


@dataclass(frozen=True)
class HeardIn:
    """Where a transcript was heard: the encoder's output for the 30 s input that held its
    utterance, and the text Whisper wrote before it there. The acoustic check scores texts
    against it (etiquette.verify), so no audio is ever encoded twice."""

    encoded: np.ndarray  # [positions, model width]
    frames: int  # feature frames of the input that hold audio
    prefix: str


# Called after each batch of inputs with its transcripts and where each was heard (the batch's
# encoder output lives only until the next batch: use it then).
OnHeard = Callable[[list[Transcript], list[HeardIn]], None]


@dataclass(frozen=True)
class _Placed:
    utterance: Utterance
    start_s: float  # position in the packed audio


def pack(utterances: Sequence[Utterance], gap_s: float, alone: bool = False
         ) -> tuple[np.ndarray, list[dict[str, float]], list[_Placed]]:
    """Lay utterances into as few inputs of at most 30 s as they fit (first fit, longest first;
    `alone`: one per input), each after `gap_s` of silence, in time order within an input.

    Returns the packed audio, the [start, end] of each input in it (seconds), and where each
    utterance was placed (in the order given).
    """
    limit = INPUT_S - gap_s  # leaves room for the gap that closes an input
    cut = int((limit - gap_s) * SAMPLE_RATE)  # never longer than one input
    inputs: list[list[int]] = []
    room: list[float] = []
    for i in sorted(range(len(utterances)), key=lambda i: -len(utterances[i].audio)):
        need = gap_s + min(len(utterances[i].audio), cut) / SAMPLE_RATE
        k = None if alone else next((k for k, r in enumerate(room) if need <= r), None)
        if k is None:
            inputs.append([])
            room.append(limit)
            k = len(inputs) - 1
        inputs[k].append(i)
        room[k] -= need
    gap = np.zeros(int(gap_s * SAMPLE_RATE), dtype=np.float32)
    pieces: list[np.ndarray] = []
    clips: list[dict[str, float]] = []
    at: dict[int, float] = {}
    cursor = 0.0
    for members in inputs:
        start = cursor
        for i in sorted(members):
            audio = utterances[i].audio[:cut]
            pieces += [gap, audio]
            at[i] = cursor + gap_s
            cursor += gap_s + len(audio) / SAMPLE_RATE
        pieces.append(gap)
        cursor += gap_s
        clips.append({"start": start, "end": cursor})
    packed = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    return packed, clips, [_Placed(u, at[i]) for i, u in enumerate(utterances)]


class Recogniser:
    """One loaded Whisper model, shared by every window and thread of a process."""

    def __init__(self, options: RecogniserOptions | None = None, guard: Guard | None = None) -> None:
        from faster_whisper import WhisperModel

        self.options = options or RecogniserOptions()
        self.guard = guard or Guard.load()
        o = self.options
        path = resolve_model(o.model, o.models_dir)
        logger.info("loading model %s (%s, %s)", path, o.device, o.compute_type)
        self.model = WhisperModel(path, device=o.device, compute_type=o.compute_type,
                                  cpu_threads=o.cpu_threads or threads_per_job(o.num_workers),
                                  num_workers=o.num_workers)
        self._pipeline_type = _keep_encoded_pipeline()

    def _segments(self, packed: np.ndarray, clips: list[dict[str, float]]
                  ) -> tuple[list[Any], np.ndarray]:
        """Segments of one batch of inputs, and the encoder's output for each input."""
        o = self.options
        pipeline = self._pipeline_type(self.model)  # one per call: a pipeline has state
        segments, _ = pipeline.transcribe(
            packed, language="zh", task="transcribe", beam_size=o.beam_size,
            batch_size=o.batch_size, clip_timestamps=clips, word_timestamps=True,
            initial_prompt=o.initial_prompt, hotwords=o.hotwords, temperature=0.0,
            no_speech_threshold=o.no_speech_threshold, log_prob_threshold=o.log_prob_threshold,
            # Timestamp tokens make Whisper end a segment at each gap, which keeps its word
            # times on the right utterance (measured: without them words drift across gaps).
            without_timestamps=False, vad_filter=False)
        return list(segments), pipeline.encoded

    def transcribe(self, utterances: Sequence[Utterance], on_heard: OnHeard | None = None
                   ) -> list[Transcript]:
        """Transcripts of `utterances`, in the same order, in simplified Chinese.

        `on_heard` sees every batch's transcripts with where each was heard (the acoustic check
        of near misses runs there, on the encoder output already computed).
        """
        # Whisper writes text on digital silence ("你不认识…"); an utterance with no signal is
        # no speech, whatever cut it out.
        audible = [u for u in utterances if float(np.sqrt(np.mean(u.audio ** 2))) > SILENCE_RMS]
        heard = dict(zip(map(id, audible), self._transcribe(audible, on_heard)))
        # Whisper now and then skips a whole utterance of a packed input (measured: 急什么，忙着呢
        # came back empty beside two others and whole alone). Speech that gave no text at all is
        # decoded again among other neighbours, 1 s apart (one input for all of them, not one
        # each); what is still empty then, in an input of its own.
        for alone in (False, True):
            missed = [u for u in audible if not heard[id(u)].words and not heard[id(u)].dropped]
            if len(audible) == 1 or not missed:
                break
            heard.update(zip(map(id, missed), self._transcribe(missed, on_heard, alone, gap_s=1.0)))
        return [heard.get(id(u)) or Transcript(u.source, u.window_id, u.speaker, u.channel,
                                               u.start_s, u.end_s, ()) for u in utterances]

    def _transcribe(self, utterances: Sequence[Utterance], on_heard: OnHeard | None,
                    alone: bool = False, gap_s: float | None = None) -> list[Transcript]:
        o = self.options
        if not utterances:
            return []
        gap_s = o.gap_s if gap_s is None else gap_s
        packed, clips, placed = pack(utterances, gap_s, alone)
        result: dict[int, Transcript] = {}
        # One batch of inputs at a time, so that only one batch's encoder output is held.
        for first in range(0, len(clips), o.batch_size):
            batch = clips[first:first + o.batch_size]
            here = [j for j, p in enumerate(placed)
                    if batch[0]["start"] <= p.start_s < batch[-1]["end"]]
            segments, encoded = self._segments(packed, batch)
            transcripts, heard = self._assign(segments, encoded, batch, [placed[j] for j in here],
                                              gap_s)
            if on_heard is not None:
                on_heard(transcripts, heard)
            result.update(zip(here, transcripts))
        return [result[j] for j in range(len(placed))]

    def _assign(self, segments: list[Any], encoded: np.ndarray, clips: list[dict[str, float]],
                placed: list[_Placed], gap_s: float) -> tuple[list[Transcript], list[HeardIn]]:
        """Give each word of a batch's segments to the utterance it was heard in."""
        o = self.options
        words: list[list[Word]] = [[] for _ in placed]
        starts = np.array([p.start_s for p in placed])
        ends = starts + np.array([p.utterance.duration_s for p in placed])
        clip_starts = np.array([c["start"] for c in clips])
        # Per input, every word Whisper wrote there: (midpoint, utterance it went to, text).
        raw: list[list[tuple[float, int | None, str]]] = [[] for _ in clips]
        for seg in segments:
            if seg.no_speech_prob > o.no_speech_threshold and seg.avg_logprob < o.log_prob_threshold:
                logger.debug("dropping silent segment %r", seg.text)
                continue
            for w in seg.words or []:
                mid = (w.start + w.end) / 2
                here = raw[int(np.searchsorted(clip_starts, mid, side="right")) - 1]
                # A word belongs where most of it lies: Whisper stretches words that border a
                # silence into it, so a midpoint would hand them to the neighbour.
                overlap = np.minimum(ends, w.end) - np.maximum(starts, w.start)
                k = int(np.argmax(overlap))
                if overlap[k] <= 0:
                    distance = np.maximum(np.maximum(starts - mid, mid - ends), 0.0)
                    k = int(np.argmin(distance))
                    if distance[k] > gap_s / 2:
                        here.append((mid, None, w.word))
                        continue  # in the silence between utterances: not speech
                here.append((mid, k, w.word))
                p = placed[k]
                u = p.utterance
                start = u.start_s + max(0.0, w.start - p.start_s)
                end = u.start_s + min(u.duration_s, max(0.0, w.end - p.start_s))
                words[k].append(Word(w.word, round(float(start), 3), round(float(max(start, end)), 3),
                                     round(float(w.probability), 3)))
        transcripts, heard = [], []
        for p, ws in zip(placed, words):
            u = p.utterance
            kept, dropped = clean_words(ws, self.guard, o.initial_prompt)
            transcripts.append(Transcript(u.source, u.window_id, u.speaker, u.channel, u.start_s,
                                          u.end_s, kept, dropped))
            c = int(np.searchsorted(clip_starts, p.start_s, side="right")) - 1
            frames = round((clips[c]["end"] - clips[c]["start"]) * 100)  # 100 frames a second
            before = (text for mid, k, text in raw[c]
                      if (mid if k is None else starts[k]) < p.start_s)
            heard.append(HeardIn(encoded[c], min(frames, 3000), "".join(before)))
        return transcripts, heard


def threads_per_job(jobs: int) -> int:
    """The cores this process may use, shared among `jobs` (CTranslate2's own default, 4
    threads, oversubscribes a small machine)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cores or 1) // max(1, jobs))


def _keep_encoded_pipeline() -> type:
    from faster_whisper import BatchedInferencePipeline

    class KeepEncoded(BatchedInferencePipeline):
        """faster-whisper's batched pipeline, keeping the encoder output of its batch."""

        encoded: np.ndarray

        def generate_segment_batched(self, features: np.ndarray, tokenizer: Any, options: Any
                                     ) -> tuple[Any, list[dict[str, Any]]]:
            import ctranslate2

            encoder_output, output = super().generate_segment_batched(features, tokenizer, options)
            self.encoded = np.array(encoder_output.to_device(ctranslate2.Device.cpu)
                                    if encoder_output.device != "cpu" else encoder_output)
            return encoder_output, output

    return KeepEncoded
