"""Nothing on any page comes from outside the server (issue 18, item 6): a government network
reaches no CDN. Each page is loaded in chromium with every request watched; the API docs render
Swagger UI from the service's own files."""

from __future__ import annotations

from typing import TYPE_CHECKING

from factories.service import make_incident
from service.conftest import LiveService
from service.web.conftest import log_in, watch_csp

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def watch_requests(page: Page, base_url: str) -> list[str]:
    """The requests of `page` to anywhere but the server (inline data and blobs aside)."""
    outside: list[str] = []

    def seen(url: str) -> None:
        if not url.startswith((base_url + "/", "data:", "blob:")):
            outside.append(url)

    page.on("request", lambda r: seen(r.url))
    return outside


def test_the_api_docs_render_swagger_ui_from_the_server_alone(
        browser: Browser, sqlite_service: LiveService) -> None:
    live = sqlite_service
    page = browser.new_page()
    outside, violations = watch_requests(page, live.base_url), watch_csp(page)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(f"{live.base_url}/docs")
        # The operations of the schema, grouped by tag, each expandable.
        page.locator(".swagger-ui .opblock-summary-path", has_text="/api/v1/incidents").first \
            .wait_for(timeout=15000)
        assert "etiquette 监督考核服务" in page.locator(".swagger-ui .info .title").inner_text()
        page.locator(".swagger-ui .opblock-summary", has_text="/api/v1/reports/{period}").first \
            .click()
        page.locator(".swagger-ui .opblock-body .parameters").first.wait_for(timeout=5000)
        assert outside == [] and violations == [] and errors == []
        assert page.request.get(f"{live.base_url}/redoc").status == 404  # needs a CDN: gone
    finally:
        page.close()


def test_no_page_loads_anything_from_outside_the_server(
        browser: Browser, sqlite_service: LiveService) -> None:
    """Every page of the menu (and the footer's API docs), as an admin and as a member of staff
    sees it, plus an incident."""
    live = sqlite_service
    iid = make_incident(live)
    for who in ("admin", "staff1"):
        page = browser.new_page()
        outside, violations = watch_requests(page, live.base_url), watch_csp(page)
        try:
            log_in(page, live, who)
            links = page.eval_on_selector_all(
                "header.top a[href^='/'], footer a[href^='/']",
                "els => els.map(e => e.getAttribute('href'))")
            pages = [*dict.fromkeys(links), f"/incidents/{iid}"]
            assert "/docs" in pages and len(pages) >= 4
            for path in pages:
                page.goto(f"{live.base_url}{path}", wait_until="load")
                assert outside == [] and violations == [], (who, path, outside, violations)
        finally:
            page.close()
