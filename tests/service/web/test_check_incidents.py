"""The incidents of the checks beyond phrase lists (issue 19) on their pages in a real browser:
each kind under its own title, its explanation and clip, and none of the phrase rules' boxes
that mean nothing for it (a similarity to a phrase where no phrase was matched). The incidents
are those the checks themselves give on one session described by its turns."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from etiquette.core.checks.base import SessionView, Turn
from etiquette.core.checks.rules import judge_checks, load_check_rules
from etiquette.core.clips import ClipOptions, clip_span
from etiquette.core.records import Incident, Speaker, Transcript, Word
from etiquette.core.sessions import Session

from factories.service import post_incident, wav_bytes
from service.conftest import LiveService
from service.web.conftest import logged_in_page

if TYPE_CHECKING:
    from playwright.sync_api import Browser

STAFF, CITIZEN = Speaker.STAFF, Speaker.CITIZEN
MANDARIN = (("zh", 0.99), ("en", 0.003))
SESSION_S = 41.0


def turn(speaker: Speaker, start: float, end: float, *words: tuple[str, float, float],
         languages: tuple[tuple[str, float], ...] = MANDARIN, lufs: float = -30.0) -> Turn:
    channel = 0 if speaker == STAFF else 1
    transcript = Transcript("counter.wav", "w-a", speaker, channel, start, end,
                            tuple(Word(w, a, b, 0.9) for w, a, b in words), languages=languages)
    return Turn(speaker=speaker, channel=channel, start_s=start, end_s=end,
                transcript=transcript, loudness_lufs=lufs)


def said(speaker: Speaker, start: float, end: float, text: str,
         languages: tuple[tuple[str, float], ...] = MANDARIN, lufs: float = -30.0) -> Turn:
    """An utterance of one word span: `text` said over the whole of it."""
    return turn(speaker, start, end, (text, start, end), languages=languages, lufs=lufs)


def session_incidents() -> list[Incident]:
    """One stereo session in which the staff do each thing a check flags once."""
    turns = (
        said(STAFF, 0.0, 2.5, "您好，请问办理什么业务"),
        said(CITIZEN, 3.0, 9.0, "我想把社保关系转到南昌来"),
        said(STAFF, 7.0, 10.0, "你先别说了，把合同给我"),  # over the citizen for 2 s
        said(CITIZEN, 11.0, 13.0, "补办要多长时间？"),  # no answer for 9 s
        turn(STAFF, 22.0, 25.5, ("请您先到那边取号", 22.0, 23.0),
             ("然后填好这张申请表", 23.0, 24.2), ("再拿身份证原件和复印件过来", 24.2, 25.5)),
        said(STAFF, 28.0, 31.0, "Please fill in the form first",
             languages=(("en", 0.9), ("nn", 0.02), ("zh", 0.01))),
        said(STAFF, 33.0, 36.0, "喊什么喊，排队去", lufs=-18.0),
        said(STAFF, 38.0, 41.0, "你这个材料不符合条件，办不了"),
    )
    view = SessionView(session=Session("counter.wav", "w-a", 0.0, SESSION_S), turns=turns,
                       recorded_at=datetime.now(UTC) - timedelta(hours=1))
    return judge_checks(load_check_rules(), view)


def test_each_checks_incident_reads_well_on_its_page(browser: Browser,
                                                     sqlite_service: LiveService) -> None:
    live = sqlite_service
    incidents = {i.kind.value: i for i in session_incidents()}
    titles = {"interruption": "抢话", "unanswered_question": "问而未答：问有答声",
              "fast_speech": "语速过快", "raised_voice": "声音过高",
              "non_mandarin": "未使用普通话", "missing_apology": "缺致歉：特殊情况致歉"}
    assert sorted(incidents) == sorted(titles)
    for i in incidents.values():
        body = i.to_json()
        del body["evidence"]  # its files go as parts of the request, as the pipeline sends them
        span = clip_span(i, SESSION_S, ClipOptions())  # as the pipeline cuts it
        assert span is not None
        r = post_incident(live.pipeline(), body, files={
            "clip": ("c.wav", wav_bytes(span[1] - span[0]), "audio/wav")})
        assert r.status_code == 201, r.text
    shots = Path(os.environ.get("ETIQUETTE_SCREENSHOTS", "/tmp/etiquette-screens"))
    shots.mkdir(parents=True, exist_ok=True)
    page, violations = logged_in_page(browser, live, "supervisor")
    try:
        for kind, i in incidents.items():
            page.goto(f"{live.base_url}/incidents/{i.id}")
            page.screenshot(path=str(shots / f"incident_{kind}.png"), full_page=True)
            assert page.locator("h1").inner_text().startswith(titles[kind]), kind
            text = page.locator("main").inner_text()
            assert i.explanation in text, kind
            assert page.locator("#clip").count() == 1, kind
            # The transcript the check read, under a heading that says whose it is.
            assert page.locator("#transcript").inner_text().strip() == i.transcript, kind
            # No phrase was matched: no similarity to one.
            assert "相似度" not in text, kind
        question = incidents["unanswered_question"]
        page.goto(f"{live.base_url}/incidents/{question.id}")
        assert "群众的问话" in page.locator("main").inner_text()
        assert "转写文本" not in page.locator("main").inner_text()
    finally:
        page.close()
    assert violations == []
