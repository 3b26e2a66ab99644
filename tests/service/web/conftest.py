"""What the browser tests of the workbench share: one headless Debian chromium (driven by
Playwright) for the whole run, logging in, and watching the Content-Security-Policy."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from factories.service import PASSWORD
from service.conftest import LiveService, unavailable

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists() or shutil.which("chromium") is None:
        unavailable("Debian's chromium is not installed: `make test` installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield b
        b.close()


def log_in(page: Page, live: LiveService, who: str, password: str = PASSWORD) -> None:
    page.goto(f"{live.base_url}/login")
    page.fill("input[name=username]", who)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/incidents**")


def logged_in_page(browser: Browser, live: LiveService, who: str) -> tuple[Page, list[str]]:
    """A new page logged in as `who`, and its Content-Security-Policy violations (watch_csp);
    the page is closed again if the login fails."""
    page = browser.new_page()
    violations = watch_csp(page)
    try:
        log_in(page, live, who)
    except BaseException:
        page.close()
        raise
    return page, violations


def watch_csp(page: Page) -> list[str]:
    """The Content-Security-Policy violations of `page` (Chromium logs each as a console error):
    the pages must work under the policy, not around it."""
    seen: list[str] = []
    page.on("console", lambda m: seen.append(m.text) if "Content Security Policy" in m.text
            else None)
    return seen


