"""Which seconds of a recording an incident's audio clip holds: decided once, here, for the
speech side that cuts clips (`etiquette.speech.clips`) and the supervision service that checks
an uploaded clip's length against its incident.

A reviewer hears the utterance with a little context, never the whole recording: a phrase
incident gets its span padded by `pad_s` each side; a missing greeting gets the first
`missing_s` seconds of the session, a missing farewell the last.

A phrase incident whose words are no longer in the audio at hand gets no clip: a live window
keeps only its last seconds, and a recogniser that lags behind them reports a phrase whose
beginning is gone. Its clip would miss the words it is evidence of, or be shorter than them
(the service refuses such a clip, and with it the incident); the incident is sent without one.
"""

from __future__ import annotations

from dataclasses import dataclass

from etiquette.core.records import Incident, IncidentKind

_MISSING = (IncidentKind.MISSING_GREETING, IncidentKind.MISSING_FAREWELL)
ROUNDING_S = 0.01  # an incident's times are rounded to hundredths of a second


@dataclass(frozen=True)
class ClipOptions:
    """Attributes:
    pad_s: audio kept before and after a phrase.
    missing_s: length of the clip of a missing greeting (session start) or farewell (end).
    max_s: no clip is longer than this.
    """

    pad_s: float = 1.5
    missing_s: float = 10.0
    max_s: float = 20.0


def clip_span(incident: Incident, duration_s: float, options: ClipOptions,
              offset_s: float = 0.0) -> tuple[float, float] | None:
    """[start, end) seconds of the recording that the clip of `incident` holds, within the
    audio at hand (`duration_s` of it, beginning `offset_s` into the recording). None for a
    phrase incident when that audio begins after the words did or leaves the clip shorter than
    them (see the module's doc); a missing greeting's or farewell's clip is whatever of its
    seconds is at hand."""
    if incident.kind == IncidentKind.MISSING_GREETING:
        start, end = incident.offset_s, incident.offset_s + options.missing_s
    elif incident.kind == IncidentKind.MISSING_FAREWELL:
        start, end = incident.end_s - options.missing_s, incident.end_s
    else:
        start, end = incident.offset_s - options.pad_s, incident.end_s + options.pad_s
    start = max(offset_s, start)
    end = min(offset_s + duration_s, end, start + options.max_s)
    if incident.kind not in _MISSING:
        shortest, _ = clip_length_range(incident.kind, incident.end_s - incident.offset_s, options)
        if start > incident.offset_s + ROUNDING_S or end - start < shortest - ROUNDING_S:
            return None
    return start, max(start, end)


def clip_length_range(kind: IncidentKind, span_s: float,
                      options: ClipOptions) -> tuple[float, float]:
    """The shortest and longest clip `clip_span` can give an incident of `kind` whose own span
    is `span_s` seconds: what was said and up to `pad_s` each side (less at the ends of the
    recording), or up to `missing_s` of a session for a missing greeting or farewell (less
    where the recording or a live window's history ends)."""
    if kind in _MISSING:
        return 0.0, min(options.missing_s, options.max_s)
    return min(span_s, options.max_s), min(span_s + 2 * options.pad_s, options.max_s)
