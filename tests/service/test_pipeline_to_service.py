"""From the pipeline to the service: audio clips, the HTTP sink, `batch --post`, the demo."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from etiquette.core.clips import ClipOptions, clip_span
from etiquette.core.records import SAMPLE_RATE, Incident, IncidentKind, Severity, Speaker
from etiquette.sinks.http import HttpSink
from etiquette.sinks.jsonl import JsonlSink
from etiquette.sinks.tee import TeeSink
from etiquette.speech.audio import DecodedAudio
from etiquette.speech.clips import attach_clips

from factories.service import PASSWORD, Api, incident, jpeg_bytes, session_record
from service.conftest import LiveService, free_port
from service.conftest import older_service as older_service_at

ROOT = Path(__file__).resolve().parents[2]


def record(kind: IncidentKind, offset_s: float, end_s: float,
           speaker: Speaker = Speaker.STAFF) -> Incident:
    return Incident(id=str(uuid.uuid4()), source="x.wav", window_id="w-a", kind=kind,
                    rule_id="F1-1", rule_name="禁用语：不知道", phrase="不知道", speaker=speaker,
                    offset_s=offset_s, end_s=end_s, at=None, transcript="不知道", score=1.0,
                    severity=Severity.MAJOR, deduction=2.0, explanation="「不知道」匹配「不知道」")


def tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def read_wav(path: str) -> tuple[np.ndarray, int]:
    with wave.open(path) as w:
        samples = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32767
        return samples, w.getframerate()


def dominant_hz(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)[spectrum.argmax()])


def test_clips_hold_a_few_seconds_of_the_speakers_microphone(tmp_path: Path) -> None:
    audio = DecodedAudio((tone(300, 60), tone(1000, 60)), 2)  # staff 300 Hz, citizen 1000 Hz
    phrase = record(IncidentKind.FORBIDDEN_PHRASE, 20.0, 21.5)
    citizen = record(IncidentKind.FORBIDDEN_PHRASE, 30.0, 31.0, Speaker.CITIZEN)
    greeting = record(IncidentKind.MISSING_GREETING, 0.5, 55.0)
    farewell = record(IncidentKind.MISSING_FAREWELL, 0.5, 55.0)
    off_post = record(IncidentKind.OFF_POST, 0.0, 1000.0)
    out = attach_clips([phrase, citizen, greeting, farewell, off_post], audio, tmp_path)
    lengths = {}
    for inc in out[:4]:
        samples, rate = read_wav(inc.evidence["clip"])
        assert rate == SAMPLE_RATE
        lengths[inc.id] = len(samples) / rate
        assert abs(dominant_hz(samples) - (1000 if inc.speaker == Speaker.CITIZEN else 300)) < 5
    assert lengths[phrase.id] == pytest.approx(1.5 + 1.5 + 1.5, abs=0.01)
    assert lengths[greeting.id] == pytest.approx(10.0, abs=0.01)
    assert "clip" not in out[4].evidence  # off_post evidence is the camera's
    assert clip_span(farewell, 60.0, ClipOptions()) == (45.0, 55.0)
    whole = record(IncidentKind.FORBIDDEN_PHRASE, 0.2, 59.9)
    assert clip_span(whole, 60.0, ClipOptions()) == (0.0, 20.0)


def test_http_sink_posts_each_incident_once_with_its_evidence(sqlite_service: LiveService,
                                                              tmp_path: Path) -> None:
    clip = tmp_path / "a_clip.wav"
    attach = attach_clips([record(IncidentKind.FORBIDDEN_PHRASE, 1.0, 2.0)],
                          DecodedAudio((tone(300, 5),), 1), tmp_path)[0]
    line = attach.to_json()
    snap = tmp_path / "seat.jpg"
    snap.write_bytes(jpeg_bytes())
    off = {**incident(kind="off_post", rule_id="P-off-post", rule_name="离岗", phrase=None),
           "evidence": {"empty_seat": str(snap)}}
    bad = {**incident(kind="nonsense"), "evidence": {}}
    jsonl = io.StringIO()
    sink = HttpSink(sqlite_service.base_url, sqlite_service.api_key, retries=1, backoff_s=0.01)
    TeeSink(JsonlSink(jsonl), sink).write(
        [line, off, bad, {"source": "x", "kind": "error", "error": "e"}])
    sink.write([line])  # a re-run: stored once
    sink.close()
    assert (sink.report.created, sink.report.already) == (2, 1)
    assert len(sink.report.failed) == 1 and "422" in sink.report.failed[0][1]
    assert len(jsonl.getvalue().splitlines()) == 4
    got = sqlite_service.client("supervisor").get(f"/api/v1/incidents/{line['id']}").json()
    assert got["evidence"][0]["role"] == "clip"
    assert clip.exists() is False  # named after the incident id, not by the caller
    assert Path(line["evidence"]["clip"]).name == f"{line['id']}_clip.wav"


def test_http_sink_reports_an_unreachable_service(tmp_path: Path) -> None:
    sink = HttpSink(f"http://127.0.0.1:{free_port()}", "etq_x_y", retries=2, backoff_s=0.01,
                    timeout_s=2)
    sink.write([incident()])
    assert sink.report.created == 0 and "ConnectError" in sink.report.failed[0][1]


@pytest.mark.slow
def test_batch_posts_the_sample_incidents_with_clips(sqlite_service: LiveService,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "incidents.jsonl"
    env = {**os.environ, "ETIQUETTE_API_KEY": sqlite_service.api_key}
    result = subprocess.run([sys.executable, "-m", "etiquette.cli", "batch",
                             "recordings_sample/window05_session.ogg", "--out", str(out),
                             "--post", sqlite_service.base_url,
                             "--evidence-dir", str(tmp_path / "ev")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    *lines, session = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert lines and "新增" in result.stderr
    sup = sqlite_service.client("supervisor")
    for line in lines:
        got = sup.get(f"/api/v1/incidents/{line['id']}").json()
        assert got["rule_id"] == line["rule_id"]
        assert got["session_id"] == session["id"]
        clip = sup.get(got["evidence"][0]["url"])
        with wave.open(io.BytesIO(clip.content)) as w:
            seconds = w.getnframes() / w.getframerate()
        assert 1.0 < seconds <= 20.0  # a few seconds around it, not the whole recording
    # The recording's session is posted after its incidents, which link to it.
    assert session["kind"] == "session"
    stored = sup.get(f"/api/v1/sessions/{session['id']}").json()
    assert sorted(i["id"] for i in stored["incident_list"]) == sorted(x["id"] for x in lines)
    assert stored["staff_talk_s"] == session["staff_talk_s"] > 0
    assert [t["text"] for t in stored["turns"]] == [t["text"] for t in session["turns"]]


@pytest.fixture
def older_service(sqlite_service: LiveService) -> Iterator[str]:
    """The URL of a service as it was before sessions were records (`service.conftest`)."""
    with older_service_at(sqlite_service) as url:
        yield url


@pytest.mark.slow
def test_batch_posts_to_a_service_without_sessions_warning_once_not_failing(
        older_service: str, sqlite_service: LiveService, tmp_path: Path) -> None:
    out = tmp_path / "incidents.jsonl"
    env = {**os.environ, "ETIQUETTE_API_KEY": sqlite_service.api_key}
    result = subprocess.run([sys.executable, "-m", "etiquette.cli", "batch",
                             "recordings_sample/window02_rude.flac",
                             "recordings_sample/window05_session.ogg", "--out", str(out),
                             "--post", older_service,
                             "--evidence-dir", str(tmp_path / "ev")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    incidents = [x for x in lines if x.get("kind") != "session"]
    assert incidents and len(lines) - len(incidents) == 2
    assert result.stderr.count("没有服务记录接口") == 1, result.stderr
    assert "2 条服务记录未发送" in result.stderr and "失败 0 条" in result.stderr
    sup = sqlite_service.client("supervisor")
    for line in incidents:
        assert sup.get(f"/api/v1/incidents/{line['id']}").json()["rule_id"] == line["rule_id"]


def test_an_older_services_refusal_of_an_incident_still_fails(
        older_service: str, sqlite_service: LiveService) -> None:
    sink = HttpSink(older_service, sqlite_service.api_key, retries=0)
    refused = incident(severity="dire")
    sink.write([incident(), refused, session_record().to_json()])
    sink.close()
    assert sink.report.created == 1 and sink.report.sessions_unsupported == 1
    assert [iid for iid, _ in sink.report.failed] == [refused["id"]]
    # A service that has the route and refuses the session (another content under its id):
    # a failure, not an older service.
    served = session_record().to_json()
    assert sqlite_service.pipeline().post("/api/v1/sessions", json=served).status_code == 201
    sink = HttpSink(sqlite_service.base_url, sqlite_service.api_key, retries=0)
    sink.write([{**served, "ticket": "Z999"}])
    sink.close()
    assert sink.report.sessions_unsupported == 0 and "HTTP 409" in sink.report.failed[0][1]


def test_the_service_imports_no_model() -> None:
    code = ("import sys\nfrom etiquette.service.main import create_app\n"
            "from etiquette.service.cli import app\n"
            "from etiquette.service.core.config import Settings\n"
            "import tempfile\ncreate_app(Settings(data_dir=tempfile.mkdtemp()))\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('faster_whisper', 'ctranslate2', "
            "'onnxruntime', 'cv2') or m in ('etiquette.speech.recogniser', 'etiquette.pipeline')]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr


def test_the_demo_serves_the_sample_incidents_with_a_random_admin_password(tmp_path: Path) -> None:
    clip = tmp_path / "c.wav"
    attach = attach_clips([record(IncidentKind.FORBIDDEN_PHRASE, 1.0, 2.0)],
                          DecodedAudio((tone(300, 5),), 1), tmp_path)[0]
    line = {**attach.to_json(), "window_id": "window02_rude"}
    served = session_record(window_id="window02_rude").to_json()
    jsonl = tmp_path / "sample_incidents.jsonl"
    jsonl.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in (
        line, served, {"source": "x", "kind": "error", "error": "e"})), encoding="utf-8")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "etiquette.service", "serve",
                             "--port", str(port),
                             "--data-dir", str(tmp_path / "data"), "--demo", str(jsonl)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        password, seen = None, []
        assert proc.stdout is not None
        for _ in range(200):  # bounded: the demo prints a handful of lines, then uvicorn's
            text = proc.stdout.readline()
            seen.append(text)
            found = re.search(r"演示管理员：(\S+)\s+密码：(\S+)", text)
            if found:
                username, password = found.groups()
            if "Uvicorn running" in text or not text:
                break
        assert password and len(password) >= 12, "".join(seen)
        assert any("已导入事件 1 条" in s and "服务记录 1 条" in s for s in seen), "".join(seen)
        assert any(f"http://127.0.0.1:{port}/" in s for s in seen)
        with Api(f"http://127.0.0.1:{port}") as c:
            assert c.login(username, PASSWORD).status_code == 401
            assert c.login(username, password).status_code == 200
            got = c.get(f"/api/v1/incidents/{line['id']}").json()
            assert got["staff"]["name"] == "李强"  # the demo master data attributes it
            assert c.get(got["evidence"][0]["url"]).status_code == 200
            assert c.get(f"/api/v1/sessions/{served['id']}").json()["staff"]["name"] == "李强"
            assert c.get("/health/ready").json()["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert clip.exists() is False
