"""Staff self-training: a recording of a required phrase goes through the real recogniser and
matcher and gets the right verdict, over HTTP and from a real browser recording (chromium's fake
audio capture fed from a sample file); the history is kept; only staff practise; a service
started without the speech side says practice is unavailable, and why."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from factories import ROOT
from factories.service import PASSWORD
from service.conftest import LiveService, unavailable

SAMPLE = ROOT / "recordings_sample" / "window01_polite.wav"  # staff on channel 0
CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.slow


def cut(start_s: float, end_s: float, pad_s: float = 0.4) -> np.ndarray:
    """The staff microphone between two times of the polite sample, with a little silence."""
    audio, rate = sf.read(SAMPLE, dtype="float32")
    assert rate == 16000
    speech = audio[int(start_s * rate):int(end_s * rate), 0]
    pad = np.zeros(int(pad_s * rate), dtype="float32")
    return np.concatenate([pad, speech, pad])


def wav(audio: np.ndarray) -> bytes:
    out = io.BytesIO()
    sf.write(out, audio, 16000, format="WAV", subtype="PCM_16")
    return out.getvalue()


GREETING = (0.4, 3.35)  # 您好，请问您需要办理什么业务 (labels.yaml: 0.5–3.245)
WAIT = (15.95, 18.45)  # 请稍候，我马上为您办理


def attempt(live: LiveService, rule_id: str, data: bytes, who: str = "staff1"
            ) -> httpx.Response:
    return live.client(who).post("/api/v1/practice/attempts", data={"rule_id": rule_id},
                                 files={"audio": ("practice.wav", data, "audio/wav")})


def test_a_recorded_phrase_is_judged_by_the_real_recogniser(sqlite_service: LiveService) -> None:
    live = sqlite_service
    phrases = live.client("staff1").get("/api/v1/practice/phrases").json()["data"]
    assert phrases[0]["rule_id"] == "R-greeting"
    assert phrases[0]["phrase"] == "您好，请问您需要办理什么业务"

    ok = attempt(live, "R-greeting", wav(cut(*GREETING)))
    assert ok.status_code == 201, ok.text
    verdict = ok.json()
    assert verdict["recognised"] is True and verdict["missed"] == [], verdict
    assert "办理什么业务" in verdict["transcript"] and verdict["score"] >= 0.72

    # The wait phrase said where the greeting was asked for: not recognised; the words of the
    # greeting it lacks are named.
    wrong = attempt(live, "R-greeting", wav(cut(*WAIT))).json()
    assert wrong["recognised"] is False and wrong["score"] == 0
    assert "马上" in wrong["transcript"]
    assert any("什么业务" in m for m in wrong["missed"]), wrong["missed"]

    history = live.client("staff1").get("/api/v1/practice/attempts").json()
    assert [(a["rule_id"], a["recognised"]) for a in history["data"][:2]] == [
        ("R-greeting", False), ("R-greeting", True)]
    assert live.client("staff2").get("/api/v1/practice/attempts").json()["count"] == 0  # own only


def test_bad_recordings_and_who_may_practise(sqlite_service: LiveService) -> None:
    live = sqlite_service
    assert attempt(live, "R-greeting", b"not audio at all" * 10).status_code == 415
    silence = np.zeros(16000 * 25, dtype="float32")
    assert attempt(live, "R-greeting", wav(silence[:800])).status_code == 422  # 0.05 s
    assert attempt(live, "R-greeting", wav(silence)).status_code == 422  # 25 s
    assert attempt(live, "R-nothing", wav(cut(*GREETING))).status_code == 404
    assert attempt(live, "R-greeting", wav(cut(*GREETING)), who="supervisor").status_code == 403
    assert live.client("supervisor").get("/practice").status_code == 403
    two = live.client("staff1").post("/api/v1/practice/attempts", data={"rule_id": "R-greeting"},
                                     files=[("audio", ("a.wav", wav(cut(*GREETING)), "audio/wav")),
                                            ("audio", ("b.wav", wav(cut(*WAIT)), "audio/wav"))])
    assert two.status_code == 422 and "「audio」重复" in two.json()["detail"], two.text


def test_practice_in_the_browser_with_a_recording(sqlite_service: LiveService,
                                                  tmp_path: Path) -> None:
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        unavailable("Debian's chromium is not installed: `make test` installs it")
    from playwright.sync_api import sync_playwright

    # Chromium plays this file (in a loop) as its microphone.
    fake = tmp_path / "greeting.wav"
    fake.write_bytes(wav(cut(*GREETING, pad_s=0.6)))
    live = sqlite_service
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={fake}"])
        try:
            page = browser.new_page()
            page.goto(f"{live.base_url}/login?next=/practice")
            page.fill("input[name=username]", "staff1")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/practice")
            section = page.locator("section.phrase[data-rule='R-greeting']")
            section.locator("button.record").click()
            page.wait_for_function("() => document.querySelector(\"section.phrase"
                                   "[data-rule='R-greeting'] .status\")"
                                   ".textContent.includes('正在录音')", timeout=10000)
            page.wait_for_timeout(9000)  # twice the looped file: the whole phrase at least once
            section.locator("button.record").click()
            verdict = section.locator(".verdict")
            verdict.wait_for(state="visible", timeout=120000)  # the first attempt loads the model
            text = verdict.inner_text()
            assert "识别通过" in text, text
            assert "办理什么业务" in text
            assert page.locator("#practice-history tbody tr").first.inner_text().count("通过") == 1
        finally:
            browser.close()


def test_a_service_without_the_speech_side_says_practice_is_unavailable(api: LiveService) -> None:
    """The API tests' service is started without a practice checker, as `python -m
    etiquette.service` starts it: an attempt gets 503 with the reason, the page says it before
    anyone records; the phrases and the history stay, and only staff get that far."""
    staff = api.client("staff1")
    refused = attempt(api, "R-greeting", wav(cut(*GREETING)))
    assert refused.status_code == 503
    assert refused.json()["detail"].startswith("本服务未接入语音识别，暂不能练习")
    assert attempt(api, "R-greeting", wav(cut(*GREETING)), who="supervisor").status_code == 403
    assert staff.get("/api/v1/practice/phrases").status_code == 200
    assert staff.get("/api/v1/practice/attempts").status_code == 200
    page = staff.get("/practice")
    assert page.status_code == 200 and 'id="practice-unavailable"' in page.text
    assert 'data-rule="R-greeting" disabled' in page.text  # nothing to record into


def test_the_service_starts_without_loading_a_model(tmp_path: Path) -> None:
    """The practice checker `etiquette serve` injects makes its recogniser at the first attempt:
    building the app with it imports no speech library."""
    import subprocess
    import sys

    code = ("import sys\nfrom etiquette.service.core.config import Settings\n"
            "from etiquette.service.main import create_app\n"
            "from etiquette.practice import practice_checker\n"
            f"settings = Settings(data_dir={str(tmp_path)!r})\n"
            "create_app(settings, practice=practice_checker(settings))\n"
            "print(sorted(m for m in ('faster_whisper', 'ctranslate2', 'onnxruntime')\n"
            "             if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_staff_member_goes_from_an_incident_to_practice(sqlite_service: LiveService) -> None:
    from factories.service import make_incident

    iid = make_incident(sqlite_service)  # staff1's window
    page = sqlite_service.client("staff1").get(f"/incidents/{iid}")
    assert page.status_code == 200 and 'id="practice-link"' in page.text
    assert 'href="/practice"' in page.text
    review = sqlite_service.client("supervisor").get(f"/incidents/{iid}")
    assert 'id="practice-link"' not in review.text
    practice = sqlite_service.client("staff1").get("/practice")
    assert practice.status_code == 200 and 'id="R-greeting"' in practice.text
    assert 'id="practice-unavailable"' not in practice.text  # this service was given a checker
    assert "您好，请问您需要办理什么业务" in practice.text
