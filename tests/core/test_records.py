"""Transcripts as saved (`etiquette batch --transcripts`, the recognition pool's replies) read
back whole, so that a saved run can be judged again."""

from __future__ import annotations

from dataclasses import replace

from etiquette.core.records import Speaker, Transcript

from factories.transcripts import said


def test_a_saved_transcript_reads_back_whole_with_its_voice():
    t = replace(said("怎么还是不会听", Speaker.UNKNOWN, start_s=3.2, end_s=4.5),
                speaker_note="能分出两种声音", languages=(("zh", 0.9),), voice="B")
    assert Transcript.from_json(t.to_json()) == t


def test_a_transcript_saved_before_voices_were_told_reads_back_without_one():
    saved = said("不知道", start_s=0.0, end_s=1.0).to_json()
    del saved["voice"], saved["languages"]
    back = Transcript.from_json(saved)
    assert back.voice == "" and back.languages == () and back.text == "不知道"
