"""A clip the pipeline cuts is never refused by the service: the checker's range of lengths
(`clip_length_range`) holds every clip `clip_span` gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from etiquette.core.clips import ROUNDING_S, ClipOptions, clip_length_range, clip_span
from etiquette.core.records import Incident, IncidentKind, Severity, Speaker

SPEECH_KINDS = [k for k in IncidentKind if k != IncidentKind.OFF_POST]
MISSING_KINDS = (IncidentKind.MISSING_GREETING, IncidentKind.MISSING_FAREWELL)


def incident(kind: IncidentKind, offset_s: float, end_s: float) -> Incident:
    return Incident("id", "a.wav", "w1", kind, "F1-1", "name", None, Speaker.STAFF, offset_s,
                    end_s, None, "", 1.0, Severity.MINOR, 1.0, "")


@given(kind=st.sampled_from(SPEECH_KINDS), offset_s=st.floats(0, 600),
       span_s=st.floats(0, 60), before_s=st.floats(0, 900), after_s=st.floats(0, 900))
def test_every_clip_cut_lies_within_the_lengths_the_service_accepts(
        kind: IncidentKind, offset_s: float, span_s: float, before_s: float,
        after_s: float) -> None:
    options = ClipOptions()
    found = incident(kind, offset_s, offset_s + span_s)
    # the audio at hand holds what was said: a recording (from 0), or a live window's recent
    # history that still reaches back to the words
    begins = max(0.0, offset_s - before_s)
    duration_s = found.end_s - begins + after_s
    span = clip_span(found, duration_s, options, begins)
    shortest, longest = clip_length_range(kind, span_s, options)
    assert span is not None
    start, end = span
    assert shortest - 1e-9 <= end - start <= longest + 1e-9
    assert begins - 1e-9 <= start <= end <= begins + duration_s + 1e-9


@given(kind=st.sampled_from(SPEECH_KINDS), offset_s=st.floats(0, 600),
       span_s=st.floats(0, 60), shift_s=st.floats(-900, 900), duration_s=st.floats(0, 900))
def test_audio_that_lost_the_words_gives_no_clip_the_service_would_refuse(
        kind: IncidentKind, offset_s: float, span_s: float, shift_s: float,
        duration_s: float) -> None:
    options = ClipOptions()
    found = incident(kind, offset_s, offset_s + span_s)
    # any audio at hand, a live history that moved past the words (a lagging recogniser) too
    begins = max(0.0, offset_s + shift_s)
    span = clip_span(found, duration_s, options, begins)
    shortest, longest = clip_length_range(kind, span_s, options)
    if span is None:  # left out: only a phrase's clip, only where the audio lost some words
        assert kind not in MISSING_KINDS
        assert begins > offset_s or begins + duration_s < found.end_s
    else:  # never missing the beginning of the words, never shorter than them (times are
        start, end = span  # rounded to ROUNDING_S)
        assert kind in MISSING_KINDS or start <= offset_s + ROUNDING_S
        assert shortest - ROUNDING_S <= end - start <= longest + 1e-9


def test_a_phrase_the_live_history_moved_past_gets_no_clip() -> None:
    options = ClipOptions(pad_s=1.5, missing_s=10.0, max_s=20.0)
    said = incident(IncidentKind.FORBIDDEN_PHRASE, 100.0, 103.0)
    # 75 s of history ending at 176 s (recognised 73 s late): the words begin before it
    assert clip_span(said, 75.0, options, offset_s=101.0) is None
    # recognised 71 s late: the words and a little of what came before are still there
    assert clip_span(said, 75.0, options, offset_s=99.0) == (99.0, 104.5)
    # a missing greeting's first seconds, partly gone, are cut from what is left
    missing = incident(IncidentKind.MISSING_GREETING, 100.0, 160.0)
    assert clip_span(missing, 75.0, options, offset_s=104.0) == (104.0, 110.0)


def test_a_phrase_clip_is_what_was_said_and_its_padding_at_most_max_s() -> None:
    options = ClipOptions(pad_s=1.5, missing_s=10.0, max_s=20.0)
    assert clip_length_range(IncidentKind.FORBIDDEN_PHRASE, 2.0, options) == (2.0, 5.0)
    assert clip_length_range(IncidentKind.FORBIDDEN_PHRASE, 30.0, options) == (20.0, 20.0)
    assert clip_length_range(IncidentKind.MISSING_FAREWELL, 0.0, options) == (0.0, 10.0)
