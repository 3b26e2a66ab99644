"""Voiceprints (etiquette.speech.voiceprint): resemblyzer's GE2E speaker encoder run without
torch, and what they give the speaker attribution on one microphone.

The reference vectors in tests/data/voiceprint_reference.json were computed once by resemblyzer
itself (with torch, outside the project) on the clips they name: a wrong mel filterbank, gate
order or weight read gives a different vector.
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from etiquette.core.records import SAMPLE_RATE, Speaker, Transcript, Utterance
from etiquette.models import ensure_model
from etiquette.speech.audio import read_audio
from etiquette.speech.speakers import AttributionOptions, attribute
from etiquette.speech.voiceprint import (
    VoiceEncoder,
    VoiceprintError,
    load_encoder,
    shared_encoder,
)

from factories import DATA, ROOT
from factories.transcripts import said

REFERENCE = json.loads((DATA / "voiceprint_reference.json").read_text(encoding="utf-8"))
# A mono session of the voice checks' tune half whose two voices pitch, MFCCs and tilt do not
# tell apart (benchmarks/results.md, "One microphone").
SESSION = ROOT / "benchmarks" / "voice_checks" / "tune" / "v09_jiehun.ogg"


@pytest.fixture(scope="module")
def encoder() -> VoiceEncoder:
    return shared_encoder()


def labelled(path: Path) -> tuple[list[dict[str, str | float]], list[Utterance], list[Transcript]]:
    """The scripted turns of a mono recording, cut at their labelled times, each with its
    scripted text as transcript (no assertion rests on what Whisper writes on this CPU)."""
    turns = yaml.safe_load((path.parent / "labels.yaml").read_text(encoding="utf-8"))[
        "files"][path.name]["turns"]
    audio = read_audio(path).channels[0]
    utterances = [Utterance(path.name, "w1", Speaker.UNKNOWN, 0, t["start_s"], t["end_s"],
                            audio[int(t["start_s"] * SAMPLE_RATE):int(t["end_s"] * SAMPLE_RATE)])
                  for t in turns]
    transcripts = [said(t["text"], Speaker.UNKNOWN, t["start_s"], t["end_s"]) for t in turns]
    return turns, utterances, transcripts


@pytest.mark.parametrize("clip", REFERENCE["clips"], ids=lambda c: Path(c["path"]).name)
def test_the_embedding_is_resemblyzers_own(encoder: VoiceEncoder, clip: dict) -> None:
    audio = read_audio(ROOT / clip["path"]).channels[0]
    piece = audio[int(clip["start_s"] * SAMPLE_RATE):int(clip["end_s"] * SAMPLE_RATE)]
    mine = encoder.embed(piece)
    theirs = np.array(clip["embedding"], dtype=np.float32)
    assert mine.shape == (256,)
    assert float(np.linalg.norm(mine)) == pytest.approx(1.0, abs=1e-5)
    assert float(mine @ theirs) / float(np.linalg.norm(theirs)) >= 0.99


def test_two_voices_lie_farther_apart_than_one_voices_lines(encoder: VoiceEncoder) -> None:
    """A clerk's lines are closer to each other, and a citizen's to each other, than the
    clerk's are to the citizen's (the recording's two synthetic voices)."""
    turns, utterances, _ = labelled(SESSION)
    prints = {role: np.stack([encoder.embed(u.audio) for t, u in zip(turns, utterances,
                                                                     strict=True)
                              if t["speaker"] == role]) for role in ("staff", "citizen")}

    def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
        cos = a @ b.T
        return float(cos[~np.eye(len(a), dtype=bool)].mean() if a is b else cos.mean())

    between = mean_cosine(prints["staff"], prints["citizen"])
    assert mean_cosine(prints["staff"], prints["staff"]) > between + 0.05
    assert mean_cosine(prints["citizen"], prints["citizen"]) > between + 0.05


def test_the_clerks_lines_are_the_staffs_where_pitch_and_timbre_could_not_tell() -> None:
    """v09: the clerk's lines without a staff phrase (请两位出示身份证…, the raised
    有意见你写到意见簿上，别在这里嚷！) were unknown when only pitch, MFCCs and tilt were
    heard, so no check judged them; their voiceprints are the greeting's. No citizen line
    becomes the staff's."""
    turns, utterances, transcripts = labelled(SESSION)
    before = attribute(utterances, transcripts, AttributionOptions(use_voiceprint=False))
    after = attribute(utterances, transcripts)
    raised = next(k for k, t in enumerate(turns) if str(t["text"]).startswith("有意见"))
    assert before[raised].speaker == Speaker.UNKNOWN
    assert after[raised].speaker == Speaker.STAFF, after[raised]
    assert "声音一致" in after[raised].reason
    staff = [k for k, t in enumerate(turns) if t["speaker"] == "staff"]
    assert sum(after[k].speaker == Speaker.STAFF for k in staff) == len(staff)
    for t, answer in zip(turns, after, strict=True):
        if t["speaker"] == "citizen":
            assert answer.speaker != Speaker.STAFF, (t["text"], answer)


def test_a_missing_weights_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "pretrained.pt"
    with pytest.raises(VoiceprintError, match="pretrained.pt"):
        load_encoder(missing)


@pytest.mark.parametrize("damage", ["truncated", "not a checkpoint"])
def test_a_corrupt_weights_file_is_named(tmp_path: Path, damage: str) -> None:
    good = ensure_model("voice-encoder") / "pretrained.pt"
    broken = tmp_path / "broken.pt"
    if damage == "truncated":
        shutil.copyfile(good, broken)
        with broken.open("r+b") as f:
            f.truncate(good.stat().st_size // 2)
    else:
        broken.write_bytes(b"<html>503 Service Unavailable</html>")
    with pytest.raises(VoiceprintError, match=str(broken)):
        load_encoder(broken)


def test_a_weights_file_that_would_run_code_is_refused(tmp_path: Path) -> None:
    """A .pt file is a pickle: one that names anything but tensors (here os.system) is refused
    with the file named, and nothing of it runs."""
    witness = tmp_path / "ran"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os
            return os.system, (f"touch {witness}",)

    hostile = tmp_path / "hostile.pt"
    with hostile.open("wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(header, f)
        pickle.dump({"model_state": Payload()}, f)
    with pytest.raises(VoiceprintError, match=str(hostile)):
        load_encoder(hostile)
    assert not witness.exists()
