"""The tracker's hysteresis: misses and glimpses do not flip the seat; absences are dated right."""

from __future__ import annotations

import pytest

from etiquette.core.presence.records import Absence, PresenceChange, Sighting
from etiquette.core.presence.tracker import PresenceTracker, TrackerOptions

STEP = 0.5  # 2 frames per second


def run(pattern: str, options: TrackerOptions | None = None, end_s: float | None = None
        ) -> tuple[list[Absence], list, PresenceTracker]:
    """Feed one sighting per character ('P' staff seen, '.' seat empty) every STEP seconds."""
    tracker = PresenceTracker("cam.mp4", "w1", options or TrackerOptions(absent_after_s=2.0,
                                                                        present_min_hits=2))
    events, absences = [], []
    for k, c in enumerate(pattern):
        event = tracker.update(Sighting(k * STEP, c == "P", 0.9 if c == "P" else 0.0))
        if event:
            events.append(event)
            if event.absence:
                absences.append(event.absence)
    last = tracker.finish(len(pattern) * STEP if end_s is None else end_s)
    if last:
        absences.append(last)
    return absences, events, tracker


def test_a_few_missed_frames_are_not_an_absence():
    # 3 misses = 1.5 s < 2 s, twice
    absences, events, tracker = run("PPPP...PPPP...PPPP")
    assert absences == [] and events == []
    assert tracker.present is True


def test_an_absence_is_dated_back_to_the_first_empty_frame():
    absences, events, _ = run("PPPP" + "." * 10 + "PPPP")
    assert len(absences) == 1
    a = absences[0]
    assert (a.start_s, a.end_s) == (2.0, 7.0)  # frames 4..13 empty, return at frame 14
    assert a.last_seen_s == 1.5 and a.confirmed_s == 4.0  # decided 2 s after it began
    assert a.returned and a.samples == 10 and a.empty_samples == 10 and a.confidence == 1.0
    left, back = events
    assert left.change is PresenceChange.LEFT and (left.t_s, left.decided_s) == (2.0, 4.0)
    assert left.last_seen_s == 1.5
    assert back.change is PresenceChange.RETURNED and (back.t_s, back.decided_s) == (7.0, 7.5)
    assert back.absence == a


def test_a_face_for_one_frame_does_not_end_an_absence():
    absences, events, _ = run("PPPP" + "....." + "P" + "....." + "." * 4 + "PP")
    assert len(absences) == 1 and len(events) == 2
    a = absences[0]
    assert (a.start_s, a.end_s) == (2.0, 9.5)
    assert a.samples == 15 and a.empty_samples == 14  # the glimpse lowers the confidence
    assert a.confidence == pytest.approx(14 / 15)


def test_the_return_needs_hits_in_a_row():
    # P.P.P. never gives two hits in a row: still absent; then PP ends it at its first frame
    absences, _, _ = run("PP" + "......" + "P.P.P." + "PP", TrackerOptions(2.0, 2))
    assert [(a.start_s, a.end_s) for a in absences] == [(1.0, 7.0)]
    absences, _, _ = run("PP" + "......" + "P.P.P." + "PP", TrackerOptions(2.0, 1))
    assert [(a.start_s, a.end_s) for a in absences] == [(1.0, 4.0)]  # any face ends it


def test_a_stream_that_starts_empty_has_no_last_seen():
    absences, events, _ = run("......PPP")
    assert len(absences) == 1
    assert absences[0].start_s == 0.0 and absences[0].last_seen_s is None
    assert events[0].last_seen_s is None


def test_a_stream_that_ends_empty_closes_the_absence_unreturned():
    absences, _, tracker = run("PPP" + "." * 8 + "P", end_s=6.5)
    assert len(absences) == 1
    a = absences[0]
    assert (a.start_s, a.end_s, a.returned) == (1.5, 6.5, False)
    assert a.samples == 9  # the lone face at the end stays a glimpse
    assert tracker.present is None  # the stream is over


def test_a_short_empty_run_at_the_end_is_nothing():
    absences, _, _ = run("PPPPPP...")
    assert absences == []


def test_an_empty_stream_shorter_than_the_hysteresis_decides_nothing():
    absences, events, tracker = run("...")
    assert absences == [] and events == [] and tracker.present is None


def test_two_absences():
    absences, _, _ = run("PP" + "." * 6 + "PPP" + "." * 5 + "PP")
    assert [(a.start_s, a.end_s) for a in absences] == [(1.0, 4.0), (5.5, 8.0)]


def test_absent_since_is_there_for_live_alerts():
    tracker = PresenceTracker("cam", "w1", TrackerOptions(1.0, 2))
    for k, c in enumerate("PP...."):
        tracker.update(Sighting(k * STEP, c == "P", 0.0))
    assert tracker.present is False and tracker.absent_since == 1.0


def test_sightings_out_of_order_are_refused():
    tracker = PresenceTracker("cam", "w1")
    tracker.update(Sighting(2.0, True, 0.9))
    with pytest.raises(ValueError, match="time order"):
        tracker.update(Sighting(1.0, True, 0.9))


def feed(tracker: PresenceTracker, pattern: str, start_s: float, absences: list[Absence]) -> None:
    for k, c in enumerate(pattern):
        event = tracker.update(Sighting(start_s + k * STEP, c == "P", 0.0))
        if event and event.absence:
            absences.append(event.absence)


def test_an_absence_ends_where_the_pictures_were_lost_and_does_not_span_the_loss():
    """Empty before a loss and after it: two absences, neither across the lost time (she may
    have come back in it); the one after has no last sighting and is not dated back."""
    tracker = PresenceTracker("cam.mp4", "w1", TrackerOptions(2.0, 2))
    absences: list[Absence] = []
    feed(tracker, "PPPP" + "." * 8, 0.0, absences)  # empty from 2.0 s, pictures end at 6.0 s
    before = tracker.lose(6.0)
    assert before is not None and absences == []
    assert (before.start_s, before.end_s, before.last_seen_s) == (2.0, 6.0, 1.5)
    assert not before.returned and before.before_loss and not before.after_loss
    feed(tracker, "." * 8 + "PP", 20.0, absences)  # pictures again from 20 s: still empty
    after = absences[-1]
    assert (after.start_s, after.end_s, after.last_seen_s) == (20.0, 24.0, None)
    assert after.returned and after.after_loss and not after.before_loss
    assert tracker.finish(25.0) is None


def test_an_empty_run_is_not_carried_across_a_loss():
    """1.5 s empty before the loss and 1.5 s after: neither is long enough on its own."""
    tracker = PresenceTracker("cam.mp4", "w1", TrackerOptions(2.0, 2))
    absences: list[Absence] = []
    feed(tracker, "PP...", 0.0, absences)
    assert tracker.lose(2.5) is None
    feed(tracker, "...PP", 10.0, absences)
    assert absences == [] and tracker.finish(12.5) is None
    with pytest.raises(ValueError, match="time order"):
        tracker.lose(5.0)


def test_options_are_checked():
    with pytest.raises(ValueError):
        TrackerOptions(absent_after_s=-1)
    with pytest.raises(ValueError):
        TrackerOptions(present_min_hits=0)
