"""Staff self-training's speech side: what the supervision service is given to judge a
practice recording (its `PracticeChecker`), built from the pipeline the windows use.

The service never loads a model (it imports nothing of the speech path); `etiquette serve` and
the service inside `etiquette run` inject a `PracticeRecogniser` into `create_app`. It decodes
a browser's recording, transcribes it with a `SpeechPipeline`'s recogniser (the same
hallucination guard and recogniser options as a window's speech) and judges it with the core's
matcher against the rules in force the service hands over.

The pipeline, and with it the Whisper model, is made at the first attempt, not when the service
starts, and once per process; attempts are transcribed one at a time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from etiquette.core.practice import (
    PracticeVerdict,
    RecordingError,
    UndecodableRecording,
    judge_practice,
)
from etiquette.core.records import SAMPLE_RATE, Speaker, Utterance
from etiquette.core.rules import RequiredRule, RuleSet
from etiquette.speech.recogniser import RecogniserOptions

if TYPE_CHECKING:
    from etiquette.pipeline import SpeechPipeline
    from etiquette.service.core.config import Settings

logger = logging.getLogger("etiquette.practice")
MIN_S = 0.3  # shorter than any phrase of Appendix B: a click of the button, not an attempt
# A header's length may exceed the audio a little (encoder delay and padding): a recording
# stating up to this much more than max_s is decoded, and judged by what it holds.
LENGTH_TOLERANCE_S = 1.0


class PracticeRecogniser:
    """Recognises practice recordings and checks them for the required phrase practised.

    Args:
      recogniser: the recogniser's options (model, threads, decoding) for practice.
      max_s: the longest recording accepted (its transcription holds the others up).
      guard_path: the hallucination guard's file, as the windows' pipeline is given it
        (None: the default guard).
    """

    def __init__(self, recogniser: RecogniserOptions, *, max_s: float,
                 guard_path: Path | None = None) -> None:
        self.recogniser = recogniser
        self.max_s = max_s
        self.guard_path = guard_path
        self._lock = threading.Lock()
        self._pipeline: SpeechPipeline | None = None

    def __call__(self, recording: bytes, rules: RuleSet, rule: RequiredRule) -> PracticeVerdict:
        """The verdict on `recording` (any container a browser records: webm/ogg opus, wav…)
        for `rule`, one of `rules` (the rules in force).

        Raises:
          UndecodableRecording: the recording is not audio.
          RecordingError: it is too short or too long.
        """
        audio = self.decode(recording)
        duration_s = len(audio) / SAMPLE_RATE
        utterance = Utterance("practice", "practice", Speaker.STAFF, 0, 0.0, duration_s, audio)
        with self._lock:
            transcript = self._speech().recogniser.transcribe([utterance])[0]
        return judge_practice(rules, rule, transcript, round(duration_s, 2))

    def decode(self, recording: bytes) -> np.ndarray:
        """The recording's first channel, 16 kHz mono float32, if its length can be a phrase.

        Bounded by `max_s` whatever the file is: its header is read first, and a recording
        that states a longer length is refused before anything is decoded; one that states
        none (a browser's WebM) or a false one is decoded no further than `max_s`, so a small
        file that expands to hours costs at most `max_s` of samples.
        """
        # Imported here: decoding pulls in PyAV, which a service nobody practises on never needs.
        from etiquette.speech.audio import AudioError, probe, read_audio

        try:
            stated = probe(recording).declared_s
            if stated is not None and stated > self.max_s + LENGTH_TOLERANCE_S:
                raise self._too_long(f"{stated:.0f} 秒，")
            decoded = read_audio(recording, max_s=self.max_s)
        except AudioError as e:
            raise UndecodableRecording(
                f"录音无法解码 (the recording cannot be decoded): {e}") from e
        if decoded.beyond_max:
            raise self._too_long()
        audio = decoded.channels[0]
        seconds = len(audio) / SAMPLE_RATE
        if seconds < MIN_S:
            raise RecordingError(f"录音太短（{seconds:.1f} 秒）(the recording is too short)")
        return audio

    def _too_long(self, length: str = "") -> RecordingError:
        return RecordingError(f"录音太长（{length}最长 {self.max_s:.0f} 秒）"
                              "(the recording is too long)")

    def _speech(self) -> SpeechPipeline:
        """The pipeline, made at the first attempt (loads the model: seconds). Under the lock."""
        if self._pipeline is None:
            from etiquette.pipeline import PipelineOptions, SpeechPipeline

            logger.info("loading the practice recogniser (%s)", self.recogniser.model)
            self._pipeline = SpeechPipeline(PipelineOptions(recogniser=self.recogniser,
                                                            guard_path=self.guard_path))
        return self._pipeline


def practice_checker(settings: Settings, windows: RecogniserOptions | None = None
                     ) -> PracticeRecogniser:
    """The checker a service with `settings` is given.

    `windows`: the recogniser options of the windows the service runs beside (`etiquette run`);
    practice is then recognised as their speech is. Without them (`etiquette serve`) the model
    is the service's `practice_model`. Either way practice decodes on `practice_threads` threads
    with one worker, beside whatever else the machine runs, and takes at most `practice_max_s`.
    """
    base = windows or RecogniserOptions(model=settings.practice_model,
                                        models_dir=settings.models_dir)
    options = replace(base, cpu_threads=settings.practice_threads, num_workers=1)
    return PracticeRecogniser(options, max_s=settings.practice_max_s)
