"""A clip the pipeline cuts is never refused by the service: the checker's range of lengths
(`clip_length_range`) holds every clip `clip_span` gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from etiquette.core.clips import ClipOptions, clip_length_range, clip_span
from etiquette.core.records import Incident, IncidentKind, Severity, Speaker

SPEECH_KINDS = [k for k in IncidentKind if k != IncidentKind.OFF_POST]


def incident(kind: IncidentKind, offset_s: float, end_s: float) -> Incident:
    return Incident("id", "a.wav", "w1", kind, "F1-1", "name", None, Speaker.STAFF, offset_s,
                    end_s, None, "", 1.0, Severity.MINOR, 1.0, "")


@given(kind=st.sampled_from(SPEECH_KINDS), offset_s=st.floats(0, 600),
       span_s=st.floats(0, 60), duration_s=st.floats(0, 900), history_s=st.floats(0, 900))
def test_every_clip_cut_lies_within_the_lengths_the_service_accepts(
        kind: IncidentKind, offset_s: float, span_s: float, duration_s: float,
        history_s: float) -> None:
    options = ClipOptions()
    found = incident(kind, offset_s, offset_s + span_s)
    # the audio at hand: a recording (from 0) or a live window's recent history
    begins = max(0.0, offset_s - history_s)
    start, end = clip_span(found, duration_s, options, begins)
    shortest, longest = clip_length_range(kind, span_s, options)
    assert end - start <= longest + 1e-9
    if begins <= offset_s and begins + duration_s >= found.end_s + options.pad_s \
            and kind not in (IncidentKind.MISSING_GREETING, IncidentKind.MISSING_FAREWELL):
        assert end - start >= shortest - 1e-9  # all of what was said is at hand


def test_a_phrase_clip_is_what_was_said_and_its_padding_at_most_max_s() -> None:
    options = ClipOptions(pad_s=1.5, missing_s=10.0, max_s=20.0)
    assert clip_length_range(IncidentKind.FORBIDDEN_PHRASE, 2.0, options) == (2.0, 5.0)
    assert clip_length_range(IncidentKind.FORBIDDEN_PHRASE, 30.0, options) == (20.0, 20.0)
    assert clip_length_range(IncidentKind.MISSING_FAREWELL, 0.0, options) == (0.0, 10.0)
