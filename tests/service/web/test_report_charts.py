"""The report's charts drawn by ECharts in chromium (issue 18, item 7): every chart drawn,
labels that never overlap, the legend off the bars, tooltips, printing, the exported file
drawing the same charts offline; and a window with a critical incident awaiting review shown
as 待定, not as a red flag."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from factories.report_data import CRITICAL, F2, add, make_center
from service.conftest import LiveService
from service.web.conftest import log_in, watch_csp

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHARTS = ("chart-ranking", "chart-time", "chart-rules")
# A chart's texts (labels, legend, values) as the corners of their outlines on the page (a
# turned label is a turned rectangle), and the boxes of its bars, in page pixels.
DRAWN = """id => {
  const svg = document.querySelector('#' + id + ' svg');
  const corners = t => { const b = t.getBBox(), m = t.getScreenCTM();
    return [[b.x, b.y], [b.x + b.width, b.y], [b.x + b.width, b.y + b.height],
            [b.x, b.y + b.height]].map(([x, y]) => {
              const p = new DOMPoint(x, y).matrixTransform(m); return [p.x, p.y]; }); };
  const box = e => { const r = e.getBoundingClientRect();
                     return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  return {texts: [...svg.querySelectorAll('text')].filter(t => t.getBBox().width > 0)
                    .map(t => ({text: t.textContent, corners: corners(t)})),
          bars: [...svg.querySelectorAll('path')]
                  .filter(p => /^(#5b7db1|#c0392b|#d68910|#c9ced6)$/i
                                 .test(p.getAttribute('fill') || '')).map(box)
                  .filter(b => b.w > 0 && b.h > 0)};
}"""
Point = tuple[float, float]


def _corners(box: dict[str, Any]) -> list[Point]:
    if "corners" in box:
        return [(float(x), float(y)) for x, y in box["corners"]]
    x, y, w, h = box["x"], box["y"], box["w"], box["h"]
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two outlines (rectangles, turned or not) overlap by more than half a pixel: no
    edge direction of either separates them (separating axis theorem)."""
    pa, pb = _corners(a), _corners(b)
    for poly in (pa, pb):
        for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
            nx, ny = y1 - y2, x2 - x1
            length = (nx * nx + ny * ny) ** 0.5 or 1.0
            da = [(nx * x + ny * y) / length for x, y in pa]
            db = [(nx * x + ny * y) / length for x, y in pb]
            if max(da) <= min(db) + 0.5 or max(db) <= min(da) + 0.5:
                return False
    return True


def widest_bar(drawn: dict[str, Any]) -> tuple[float, float]:
    """The middle of the widest bar drawn (a legend icon is narrow)."""
    bar = max(drawn["bars"], key=lambda b: b["w"])
    return bar["x"] + bar["w"] / 2, bar["y"] + bar["h"] / 2


def assert_tidy(page: Page, chart_id: str) -> dict[str, Any]:
    drawn = page.evaluate(DRAWN, chart_id)
    texts = drawn["texts"]
    assert texts, chart_id
    clashes = [(a["text"], b["text"]) for i, a in enumerate(texts) for b in texts[i + 1:]
               if overlap(a, b)]
    assert clashes == [], (chart_id, clashes)
    return drawn  # type: ignore[no-any-return]


def test_the_report_draws_its_charts_and_prints_them(browser: Browser,
                                                     sqlite_service: LiveService) -> None:
    live = sqlite_service
    c = make_center(live)
    for day in ("06", "13", "20"):
        add(live, c, f"a{day}", "a", f"2025-05-{day}T10:00:00+08:00")
    add(live, c, "d1", "d", "2025-05-27T10:00:00+08:00", **F2)
    add(live, c, "b1", "b", "2025-05-12T10:00:00+08:00", status="pending", **CRITICAL)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    violations, errors = watch_csp(page), []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error"
            and not m.text.startswith("Failed to load resource") else None)  # favicon.ico
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        log_in(page, live, "supervisor")
        page.goto(f"{live.base_url}/reports?period=2025-05&center_id={c.id}")
        for chart in CHARTS:
            page.locator(f"#{chart} svg").wait_for(timeout=10000)
        # 待定, not 红旗: in the list, the table and the chart's legend.
        assert "有 1 条严重事件待审核" in page.locator("#undecided").inner_text()
        assert "02 号窗口" in page.locator("#undecided").inner_text()
        assert "02 号窗口" not in page.locator("#red-flags").inner_text()
        row = page.locator(f"#window-ranking tr[data-window='{c.windows['b']}']")
        assert "待定" in row.inner_text() and "（并列）" in row.inner_text()

        ranking = assert_tidy(page, "chart-ranking")
        legend = [t for t in ranking["texts"] if t["text"] in ("红旗窗口", "待定", "其他窗口")]
        assert sorted(t["text"] for t in legend) == ["其他窗口", "待定", "红旗窗口"]
        assert len(ranking["bars"]) >= 4
        assert not [(t["text"], b) for t in legend for b in ranking["bars"] if overlap(t, b)]
        weeks = assert_tidy(page, "chart-time")
        assert {"5/5–5/11", "5/12–5/18", "5/26–5/31", "全部事件", "计分事件"} <= {
            t["text"] for t in weeks["texts"]}
        rules = assert_tidy(page, "chart-rules")
        assert "F1-1 禁用语：不知道" in {t["text"] for t in rules["texts"]}

        # A tooltip on the first row names the window, its kind and its score.
        tip = "() => [...document.querySelectorAll('#chart-ranking svg text')]" \
              ".map(t => t.textContent).join('|')"
        before = page.evaluate(tip)
        page.mouse.move(*widest_bar(ranking))
        page.wait_for_function(f"before => ({tip})() !== before", arg=before)
        shown = page.evaluate(tip)[len(before):]
        assert "红旗窗口" in shown and "100" in shown, shown
        page.mouse.move(0, 0)

        # A quarter has 13 weeks: their labels are turned, and still never touch.
        page.goto(f"{live.base_url}/reports?period=2025-Q2&center_id={c.id}")
        page.locator("#chart-time svg").wait_for(timeout=10000)
        quarter = assert_tidy(page, "chart-time")
        assert {"4/1–4/6", "6/30"} <= {t["text"] for t in quarter["texts"]}

        # Printed: the charts follow the page's width, and nothing of the workbench is around.
        page.emulate_media(media="print")
        page.set_viewport_size({"width": 700, "height": 900})
        page.wait_for_function("() => document.querySelector('#chart-time svg')"
                               ".getBoundingClientRect().width <= 700")
        assert_tidy(page, "chart-time")
        assert not page.locator("header.top").is_visible()
        assert page.pdf(format="A4")[:4] == b"%PDF"
        assert not violations and not errors, "\n".join(violations + errors)

        # The exported file draws the same charts with nothing but itself.
        html = page.request.get(f"{live.base_url}/api/v1/reports/2025-05/export",
                                params={"format": "html", "center_id": c.id}).text()
        export = browser.new_page()
        fetched: list[str] = []
        export.on("request", lambda r: fetched.append(r.url))
        export.set_content(html)
        for chart in CHARTS:
            export.locator(f"#{chart} svg").wait_for(timeout=10000)
        assert_tidy(export, "chart-ranking")
        widths = [export.evaluate(f"() => document.querySelector('#{chart} svg')"
                                  ".getBoundingClientRect().width") for chart in CHARTS]
        assert min(widths) > 400, widths  # side by side, each half the page
        assert fetched == []
        export.close()
    finally:
        page.close()
