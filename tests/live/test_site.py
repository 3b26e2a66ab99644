"""The site file: what `etiquette run` watches; a bad file fails at once, naming key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from etiquette.live.site import SiteError, load_site

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.wav").write_bytes(b"")
    path = tmp_path / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_demo_site_is_valid_and_names_files_relative_to_itself():
    site = load_site(ROOT / "recordings_sample" / "site.yaml")
    assert [w.id for w in site.windows][:2] == ["window01_polite", "window02_rude"]
    assert all(w.audio.file.is_file() for w in site.windows if w.audio)
    assert site.supervision.embedded is not None
    mono = site.window("window04_mono").audio
    assert mono is not None and mono.channels.order == [0]
    camera = site.window("window06_counter").camera
    assert camera is not None and Path(str(camera.source)).is_file()


def test_a_minimal_site_gets_sensible_defaults(tmp_path):
    site = load_site(write(tmp_path, "center: {code: c1}\nwindows:\n  - id: A01\n"
                                     "    audio: {device: pulse}\n"))
    w = site.windows[0]
    assert w.audio is not None and w.audio.channels.order == [0, 1] and w.audio.open_channels == 2
    assert site.recognition.options().model == "whisper-base"
    assert site.supervision.url is None  # incidents only in the local journal
    assert site.data_dir == tmp_path / "live-data"


def test_errors_name_the_key_and_the_line(tmp_path):
    path = write(tmp_path, "\n".join([
        "center: {code: c1}",
        "windows:",
        "  - id: w1",
        "    audio: {file: a.wav, channels: {staff: 0, citizen: 0}}",
        "  - id: w2",
        "    audio: {device: pulse, file: a.wav}",
        "  - id: w3",
        "    camera: {source: 0, roi: [[0, 0], [1, 0]]}",
        "  - id: w4",
        "    audio: {device: pulse, start_s: 30}",
        "recognition: {beam_size: 0}",
        "colour: blue",
    ]))
    with pytest.raises(SiteError) as e:
        load_site(path)
    message = str(e.value)
    assert str(path) in message
    assert "windows[0] (w1) -> audio -> channels (line 4): " in message
    assert "both channel 0" in message
    assert "windows[1] (w2) -> audio (line 6)" in message and "either device" in message
    assert "windows[2] (w3) -> camera -> roi (line 8)" in message
    assert "windows[3] (w4) -> audio (line 10)" in message
    assert "start_s is for a replayed" in message
    assert "recognition -> beam_size (line 11)" in message
    assert "colour (line 12): Extra inputs are not permitted" in message
    assert "at least 1 item" not in message  # no echo of the list the errors are inside


@pytest.mark.parametrize(("text", "expected"), [
    ("center: {code: c1}\nwindows: []\n", "windows"),
    ("center: {code: c1}\nwindows:\n  - {id: w1}\n", "audio, camera or both"),
    ("center: {code: c1}\nwindows:\n  - {id: w1, audio: {device: 1}}\n"
     "  - {id: w1, audio: {device: 2}}\n", "appears twice"),
    ("center: {code: c1}\nwindows:\n  - {id: w1, audio: {file: missing.wav}}\n", "no such file"),
    ("center: {code: c1}\nwindows:\n  - {id: w1, camera: {source: missing.mp4}}\n", "no such file"),
    ("center: {code: c1}\nsupervision: {url: 'http://x'}\n"
     "windows:\n  - {id: w1, audio: {device: 1}}\n", "api_key"),
    ("center: {code: c1}\nwindows:\n  - {id: w1, audio: {device: 1, device_channels: 1}}\n",
     "device_channels"),
    ("center: {code: c1}\nrules_from_service: true\nwindows:\n  - {id: w1, audio: {device: 1}}\n",
     "needs a supervision url"),
    ("center: {code: c1}\nrules_from_service: true\nrules: r.yaml\nsupervision: {url: 'http://x', "
     "api_key: k}\nwindows:\n  - {id: w1, audio: {device: 1}}\n", "not both"),
    ("center: {code: c1}\nwindows:\n  - {id: w1, camera: {source: 'rtsp://cam/1', loop: true}}\n",
     "loop is for a file"),
    ("center: [\n", "not valid YAML"),
    ("- just a list\n", "mapping at the top level"),
])
def test_bad_sites_are_refused_with_the_reason(tmp_path, text, expected):
    with pytest.raises(SiteError, match=expected):
        load_site(write(tmp_path, text))


def test_the_rule_files_a_site_names_are_checked_at_start(tmp_path):
    (tmp_path / "presence.yaml").write_text("version: x\nservice_hours: {periods: []}\n",
                                            encoding="utf-8")
    with pytest.raises(SiteError, match="service_hours -> periods"):
        load_site(write(tmp_path, "center: {code: c1}\npresence: {rules: presence.yaml}\n"
                                  "windows:\n  - {id: w1, camera: {source: 0}}\n"))
    with pytest.raises(SiteError, match="cannot read rules"):
        load_site(write(tmp_path, "center: {code: c1}\nrules: nope.yaml\n"
                                  "windows:\n  - {id: w1, audio: {device: 1}}\n"))


def test_a_bad_checks_file_the_site_names_stops_the_start_naming_check_field_and_line(tmp_path):
    (tmp_path / "checks.yaml").write_text("version: x\ninterruption:\n  name: 抢话\n"
                                          "  min_overlap_s: -1\n", encoding="utf-8")
    with pytest.raises(SiteError, match=r"interruption -> min_overlap_s \(line 4\)") as e:
        load_site(write(tmp_path, "center: {code: c1}\nchecks: checks.yaml\n"
                                  "windows:\n  - {id: w1, audio: {device: 1}}\n"))
    assert e.value.document == tmp_path / "checks.yaml"


def test_a_missing_site_file_is_a_clear_error(tmp_path):
    with pytest.raises(SiteError, match="cannot read site"):
        load_site(tmp_path / "nope.yaml")


def test_the_api_key_can_come_from_the_environment(tmp_path, monkeypatch):
    site = load_site(write(tmp_path, "center: {code: c1}\nsupervision: {url: 'http://x', "
                                     "api_key_env: SITE_KEY}\n"
                                     "windows:\n  - {id: w1, audio: {device: 1}}\n"))
    monkeypatch.delenv("SITE_KEY", raising=False)
    with pytest.raises(SiteError, match="环境变量 SITE_KEY 未设置"):
        site.supervision.key()
    monkeypatch.setenv("SITE_KEY", "k-123")
    assert site.supervision.key() == "k-123"
