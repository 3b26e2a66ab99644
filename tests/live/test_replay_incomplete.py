"""A recording replayed live that is cut short (issue 17, item 6): reported as a health event,
and its end not taken for the end of a conversation (no farewell judged missing on audio that
is not there), while a whole recording beside it is judged as ever."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import yaml

from etiquette.health import HealthState
from etiquette.live.engine import build_site
from etiquette.live.site import load_site
from etiquette.speech.recogniser import Recogniser

from factories import SAMPLES

pytestmark = pytest.mark.slow


def test_a_replay_cut_short_is_reported_and_its_farewell_left_unjudged(
        tmp_path: Path, recogniser: Recogniser) -> None:
    cut = tmp_path / "window01_cut.wav"  # 6.0 s of the 29.7 its header states: greeting only
    cut.write_bytes((SAMPLES / "window01_polite.wav").read_bytes()[:383_517])
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({
        "center": {"code": "nc"}, "data_dir": str(tmp_path / "live"),
        "windows": [{"id": "w-cut", "audio": {"file": str(cut), "speed": 4}},
                    {"id": "w-rude", "audio": {"file": str(SAMPLES / "window02_rude.flac"),
                                               "speed": 4}}]}), encoding="utf-8")
    site = build_site(load_site(path), recogniser=recogniser)
    degraded = [e for e in site.health_events
                if e.component == "audio" and e.state == HealthState.DEGRADED]
    assert [e.window_id for e in degraded] == ["w-cut"]
    assert "incomplete" in degraded[0].message and "29.7" in degraded[0].message
    site.start()
    try:
        site.run_until(threading.Event())
    finally:
        site.stop()
    kinds = {(i.window_id, i.kind.value) for i in site.incidents}
    assert ("w-rude", "missing_farewell") in kinds  # a whole replay's end ends its session
    assert not [k for w, k in kinds if w == "w-cut"]
