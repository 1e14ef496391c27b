"""`crawler report DB -o report.html`: one self-contained file, checked in headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crawler.cli import main
from tests.dbsite import SiteDB, site_db

pytestmark = pytest.mark.timeout(120)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-background-networking",
                "--disable-component-update", "--no-first-run", "--disable-gpu"]
CHARTS = ["rate", "statuses", "hosts", "depth", "errors"]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> SiteDB:
    return site_db(tmp_path_factory)


@pytest.fixture(scope="module")
def report_file(db: SiteDB, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the site's crawl, its pages spread one a second (the crawl itself can
    fetch them all within 0.1 s, one bucket: the time charts would have one point)."""
    folder = tmp_path_factory.mktemp("report")
    spread = folder / "harbour.db"
    shutil.copyfile(db.path, spread)
    con = sqlite3.connect(spread)
    for i, (page_id,) in enumerate(con.execute("SELECT id FROM pages ORDER BY id").fetchall()):
        con.execute("UPDATE pages SET fetched_at = ? WHERE id = ?",
                    (f"2026-01-01T10:00:{i:02d}.000Z", page_id))
    con.execute("UPDATE errors SET at = '2026-01-01T10:00:05.000Z'")
    con.commit()
    con.close()
    out = folder / "harbour.html"
    assert main(["report", str(spread), "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def browser() -> Any:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def page(report_file: Path, browser: Any) -> Any:
    """The report opened from disk; every request other than the file itself is refused.

    `report_file` comes first: making it crawls the site with `asyncio.run`, which cannot
    run once Playwright's sync API holds the thread's event loop."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.requests, page.problems = [], []  # type: ignore[attr-defined]

    def route(route: Any) -> None:
        page.requests.append(route.request.url)  # type: ignore[attr-defined]
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            route.abort()
    page.route("**/*", route)
    page.on("pageerror", lambda exc: page.problems.append(str(exc)))  # type: ignore
    page.on("console", lambda m: page.problems.append(m.text)  # type: ignore
            if m.type == "error" else None)
    page.goto(report_file.as_uri())
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot').length === "
                           f"{len(CHARTS)}", timeout=30_000)
    yield page
    context.close()


def drawn_bars(page: Any, chart: str) -> list[dict[str, float]]:
    """The bars Plotly drew in one chart: each bar's size on screen, trace by trace."""
    return page.eval_on_selector_all(
        f"#{chart} .barlayer .trace .point path",
        "paths => paths.map(p => { const b = p.getBBox(); "
        "return {w: b.width, h: b.height, trace: p.closest('.trace').__data__[0].trace.name}})")


def test_the_file_needs_nothing_from_the_network(report_file: Path) -> None:
    text = report_file.read_text(encoding="utf-8")
    assert "Plotly" in text and len(text) > 1_000_000  # the library is inside
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=[\"']?(https?:)?//", text)
    assert "@import" not in text


def test_the_report_opens_offline_and_loads_nothing_else(page: Any, report_file: Path) -> None:
    assert page.requests == [report_file.as_uri()]
    assert page.problems == []
    assert page.title() == "Crawl 1 'harbour'"


def test_every_chart_is_drawn(page: Any) -> None:
    for chart in CHARTS:
        assert page.locator(f"#{chart} .main-svg").count() >= 1, chart
        box = page.locator(f"#{chart}").bounding_box()
        assert box is not None and box["width"] > 500 and box["height"] > 300, chart


def test_the_depth_chart_draws_one_bar_per_depth_sized_by_its_pages(page: Any) -> None:
    bars = drawn_bars(page, "depth")  # depths 0..3 have 1, 12, 2 and 1 pages
    assert len(bars) == 4
    heights = [bar["h"] for bar in bars]
    assert heights[1] == max(heights) and heights[1] > 5 * heights[0]
    assert abs(heights[0] - heights[3]) < 0.5 and abs(heights[2] - 2 * heights[0]) < 1
    labels = page.eval_on_selector_all("#depth .xtick text", "ts => ts.map(t => t.textContent)")
    assert labels == ["0", "1", "2", "3"]


def test_statuses_over_time_stack_each_status_class(page: Any, db: SiteDB) -> None:
    legend = page.eval_on_selector_all("#statuses .legendtext",
                                       "ts => ts.map(t => t.textContent)")
    assert sorted(legend) == ["2xx", "3xx", "4xx"]  # 13 pages of 200, a 302, a 404, a 410
    drawn = page.evaluate("Object.fromEntries(document.getElementById('statuses').data"
                          ".map(t => [t.name, t.y.reduce((a, b) => a + b, 0)]))")
    assert drawn == {"2xx": 13, "3xx": 1, "4xx": 2}
    traces = {bar["trace"] for bar in drawn_bars(page, "statuses") if bar["h"] > 0}
    assert traces == {"2xx", "3xx", "4xx"}


def test_pages_per_second_is_a_line_over_time(page: Any) -> None:
    path = page.get_attribute("#rate .scatterlayer .js-line", "d")
    assert path and path.startswith("M") and path.count("H") >= 15, path  # steps, drawn
    # 16 pages one a second over 15 s: 76 buckets of 0.2 s, a page (5 pages/s) in every 5th.
    rates = page.evaluate("document.getElementById('rate').data[0].y")
    assert rates == [5.0 if i % 5 == 0 else 0.0 for i in range(76)]
    assert page.locator("#rate .scatterlayer .point").count() == 76
    title = page.text_content("#rate .g-xtitle")
    assert title == "time (UTC), 0.2 s buckets"


def test_hosts_chart_names_the_host_with_its_pages_and_latency(page: Any, db: SiteDB) -> None:
    host = db.base.removeprefix("http://")
    ticks = page.eval_on_selector_all("#hosts .ytick text", "ts => ts.map(t => t.textContent)")
    assert host in ticks
    by_trace = {bar["trace"]: bar["w"] for bar in drawn_bars(page, "hosts")}
    assert set(by_trace) == {"pages", "median ms", "95th percentile ms"}
    assert by_trace["95th percentile ms"] >= by_trace["median ms"] > 0


def test_errors_by_kind_and_broken_links_with_the_pages_linking_to_them(page: Any,
                                                                        db: SiteDB) -> None:
    assert [bar["trace"] for bar in drawn_bars(page, "errors")] == ["errors"]
    assert page.eval_on_selector_all("#errors .xtick text",
                                     "ts => ts.map(t => t.textContent)") == ["http"]
    rows = page.eval_on_selector_all(
        "tr.broken", "rs => rs.map(r => [...r.cells].map(c => c.innerText.trim()))")
    assert [(r[0], r[1]) for r in rows] == [(db.url("/missing"), "404"),
                                            (db.url("/gone"), "410")]
    assert rows[0][3].split("\n") == [db.url("/"), db.url("/about")]
    assert rows[1][3] == db.url("/news")


def test_the_slowest_and_biggest_pages_are_listed(page: Any, db: SiteDB) -> None:
    text = page.inner_text("body")
    slowest = text.split("Slowest pages", 1)[1]
    assert slowest.lstrip().splitlines()[1].startswith(db.url("/slow"))
    biggest = text.split("Biggest pages", 1)[1].split("Slowest pages", 1)[0]
    assert db.url("/") in biggest.splitlines()[2]  # the home page has the most links


def test_a_report_of_a_missing_database_is_a_one_line_error(tmp_path: Path,
                                                            capsys: Any) -> None:
    assert main(["report", str(tmp_path / "nope.db"), "-o", str(tmp_path / "r.html")]) == 2
    assert capsys.readouterr().err.strip() == \
        f"crawler: error: {tmp_path / 'nope.db'}: no such database file"
    assert not (tmp_path / "r.html").exists()


def test_time_buckets_count_pages_by_status_class_and_failures(db: SiteDB,
                                                             tmp_path: Path) -> None:
    from crawler.cli.report_data import time_series

    copy = tmp_path / "times.db"
    shutil.copyfile(db.path, copy)
    con = sqlite3.connect(copy)
    ids = [row[0] for row in con.execute("SELECT id FROM pages ORDER BY id")]
    # All pages at 10:00:00.000 but three: two at +1.0 s and the last at +2.5 s.
    for i, page_id in enumerate(ids):
        at = {0: "00.000", 1: "01.000", 2: "01.050"}.get(i, "00.000")
        at = "02.500" if i == len(ids) - 1 else at
        con.execute("UPDATE pages SET fetched_at = ? WHERE id = ?",
                    (f"2026-01-01T10:00:{at}Z", page_id))
    con.execute("UPDATE errors SET at = '2026-01-01T10:00:02.000Z'")
    con.execute("INSERT INTO errors (crawl_id, url, kind, message, tries, depth, at) VALUES "
                "(1, 'http://x/', 'connection', 'refused', 1, 0, '2026-01-01T10:00:02.010Z')")
    con.commit()
    series = time_series(con, 1)
    con.close()
    assert series.width == 0.1  # 2.5 s fits 80 buckets of 0.1 s
    assert len(series.times) == 26
    assert series.times[0] == "2026-01-01 10:00:00.000"
    assert series.times[10] == "2026-01-01 10:00:01.000"
    total = len(ids)
    assert series.pages_per_second[0] == (total - 3) / 0.1
    assert series.pages_per_second[10] == 20.0  # two pages in 0.1 s
    assert series.pages_per_second[25] == 10.0
    assert sum(sum(v) for k, v in series.by_class.items() if k != "no response") == total
    assert series.by_class["no response"][20] == 1  # the connection error, not the 404s
