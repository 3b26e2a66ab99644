"""A recording heard live: fed to one window's monitor as its microphones would give it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np

from etiquette.core.records import SAMPLE_RATE, Incident
from etiquette.live.recognition import SharedRecogniser
from etiquette.live.window import WindowMonitor
from etiquette.pipeline import SpeechPipeline
from etiquette.speech.audio import read_audio

BLOCK = SAMPLE_RATE // 10  # what a sound card hands over at a time: 100 ms


def judged_live(speech: SpeechPipeline, recording: Path, started: datetime,
                work: Path) -> tuple[list[Incident], WindowMonitor]:
    """The incidents window w1 emits live for `recording` (fed in 100 ms blocks, then two
    seconds of quiet, so that the last utterance is cut while the recogniser still runs),
    every transcript in and the session judged; and the monitor, to look at what it kept."""
    shared = SharedRecogniser(speech.recogniser, spool_dir=work / "spool",
                              recognise=speech.recognise)
    emitted: list[Incident] = []
    audio = read_audio(recording)
    monitor = WindowMonitor("w1", len(audio.channels), started, speech, shared,
                            lambda i, _: emitted.append(i), work / "ev")
    blocks = np.concatenate([np.stack(audio.channels, axis=1),
                             np.zeros((2 * SAMPLE_RATE, len(audio.channels)), np.float32)])
    shared.start()
    try:
        for i in range(0, len(blocks), BLOCK):
            monitor.feed(blocks[i:i + BLOCK])
    finally:
        shared.stop()  # every transcript is in
    monitor.finish(ended=True)
    return emitted, monitor
