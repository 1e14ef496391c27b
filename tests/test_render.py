"""Pages built by scripts, rendered in a real Chromium: one browser for the whole module."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

import crawler
from crawler.fetch.browser import Chromium
from tests.browser import app_shell, browser_main_pids, crawl_with, js, needs_browser
from tests.conftest import make_config, rows, scalar
from tests.site import Page

pytestmark = [needs_browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Chromium]:
    browser = Chromium()
    await browser.start()
    yield browser
    await browser.close()


def render_config(server: Any, start: str = "/", **fetch: Any) -> Any:
    return make_config([server.url(start)], fetch={"render": "always", "retries": 0,
                                                   "render_timeout": "10s", **fetch})


LINKS_LATER = """
setTimeout(() => {
  document.getElementById('app').innerHTML =
    '<h1>Catalogue</h1><a href="/a">A</a> <a href="/b">B</a>';
}, 50);
"""

FROM_JSON = """
fetch('/api/items.json').then(r => r.json()).then(items => {
  document.getElementById('app').innerHTML = items.map(
    i => `<div class="item"><a href="/item/${i.id}">${i.name}</a></div>`).join('');
});
"""


async def test_links_a_script_adds_after_a_timeout_are_followed(chromium, site_server,
                                                                out_db) -> None:
    server = site_server({"/": app_shell(), "/app.js": js(LINKS_LATER),
                          "/a": "<p>page a</p>", "/b": "<p>page b</p>"})
    stats, _ = await crawl_with(chromium, render_config(server), out_db)
    assert stats.status == "finished"
    fetched = {r["url"]: r for r in rows(out_db, "SELECT url, fetched_by, title FROM pages")}
    assert set(fetched) == {server.url("/"), server.url("/a"), server.url("/b")}
    assert fetched[server.url("/")]["fetched_by"] == "browser"
    assert fetched[server.url("/")]["title"] == "app"
    assert server.paths.count("/") == 1  # the browser was handed the HTTP response
    assert scalar(out_db, "SELECT count(*) FROM links WHERE href IN ('/a', '/b')") == 2


async def test_content_fetched_from_a_json_endpoint_is_in_text_and_items(
        chromium, site_server, out_db) -> None:
    items = [{"id": 1, "name": "Teapot"}, {"id": 2, "name": "Kettle"}]
    server = site_server({
        "/": app_shell(), "/app.js": js(FROM_JSON),
        "/api/items.json": Page(body=json.dumps(items), content_type="application/json",
                                delay=0.2),
        "/item/1": "<p>one</p>", "/item/2": "<p>two</p>"})
    config = make_config([server.url("/")], scope={"max_depth": 0},
                         fetch={"render": "always", "retries": 0},
                         extract={"type": "listing", "fields": {"names": [".item a::text"]}})
    await crawl_with(chromium, config, out_db)
    text = scalar(out_db, "SELECT text FROM pages WHERE url = ?", server.url("/"))
    assert "Teapot" in text and "Kettle" in text
    data = json.loads(scalar(out_db, "SELECT data FROM items WHERE type = 'listing'"))
    assert data == {"names": ["Teapot", "Kettle"]}


async def test_a_script_redirect_gives_the_final_url_and_its_page(chromium, site_server,
                                                                 out_db) -> None:
    server = site_server({
        "/old": "<html><body><script>location.replace('/new')</script></body></html>",
        "/new": Page(body="<html><title>new</title><body><p>moved here</p></body></html>",
                     headers={"X-Page": "new"})})
    config = render_config(server, "/old", render_wait_until="networkidle")
    config = make_config([server.url("/old")], scope={"max_depth": 0},
                         fetch={"render": "always", "retries": 0,
                                "render_wait_until": "networkidle"})
    await crawl_with(chromium, config, out_db)
    page = rows(out_db, "SELECT * FROM pages")[0]
    assert (page["url"], page["final_url"]) == (server.url("/old"), server.url("/new"))
    assert page["title"] == "new" and "moved here" in page["text"]
    assert json.loads(page["headers"])["x-page"] == "new"


async def test_an_endless_script_costs_the_render_timeout_and_the_crawl_goes_on(
        chromium, site_server, out_db) -> None:
    server = site_server({
        "/": "<a href='/loop'>loop</a><a href='/fine'>fine</a><script></script>",
        "/loop": "<html><body><script>while (true) {}</script></body></html>",
        "/fine": "<p>fine</p>"})
    config = render_config(server, render_timeout="2s")
    started = time.monotonic()
    stats, _ = await crawl_with(chromium, config, out_db)
    assert time.monotonic() - started < 15
    assert stats.status == "finished"
    errors = rows(out_db, "SELECT url, kind, message FROM errors")
    assert [(e["url"], e["kind"]) for e in errors] == [(server.url("/loop"), "timeout")]
    assert "fetch.render_timeout" in errors[0]["message"]
    stored = {r["url"] for r in rows(out_db, "SELECT url FROM pages")}
    assert stored == {server.url("/"), server.url("/fine")}


async def test_alerts_confirms_popups_and_downloads_never_hold_a_page(chromium, site_server,
                                                                      out_db) -> None:
    server = site_server({
        "/": ("<html><body><script>alert('hi'); confirm('sure?'); prompt('name?');"
              "window.open('/popup'); document.body.append('after the dialogs');"
              "const a = document.createElement('a'); a.href = '/file.bin'; a.download = 'f';"
              "document.body.append(a); a.click();</script></body></html>"),
        "/popup": "<p>popup</p>",
        "/file.bin": Page(body=b"x" * 1000, content_type="application/octet-stream")})
    config = make_config([server.url("/")], scope={"max_depth": 0},
                         fetch={"render": "always", "retries": 0, "render_timeout": "5s"})
    started = time.monotonic()
    await crawl_with(chromium, config, out_db)
    assert time.monotonic() - started < 10
    assert "after the dialogs" in scalar(out_db, "SELECT text FROM pages")
    assert scalar(out_db, "SELECT count(*) FROM errors") == 0


class LoadMore(crawler.Spider):
    name = "more"

    async def interact(self, page: Any, request: crawler.Request) -> None:
        while await page.locator("button#more").count():
            await page.click("button#more")
            await page.wait_for_timeout(50)

    def parse(self, response: crawler.Response) -> Any:
        yield {"rows": [n.text() for n in response.css("li")]}


MORE = """
let next = 1;
document.getElementById('more').onclick = async () => {
  const rows = await (await fetch('/rows?page=' + next)).json();
  for (const r of rows) {
    const li = document.createElement('li'); li.textContent = r; list.append(li);
  }
  next += 1;
  if (next > 3) document.getElementById('more').remove();
};
"""


async def test_a_spider_clicks_load_more_before_the_page_is_captured(chromium, site_server,
                                                                     out_db) -> None:
    server = site_server({
        "/": ("<html><body><ul id='list'></ul><button id='more'>more</button>"
              "<script src='/more.js'></script></body></html>"),
        "/more.js": js(MORE),
        **{f"/rows?page={n}": Page(body=json.dumps([f"row {n}"]),
                                   content_type="application/json") for n in (1, 2, 3)}})
    config = render_config(server)
    await crawl_with(chromium, config, out_db, spider=LoadMore(config))
    data = json.loads(scalar(out_db, "SELECT data FROM items"))
    assert data == {"rows": ["row 1", "row 2", "row 3"]}


class AsksForRendering(crawler.Spider):
    name = "asks"

    def parse(self, response: crawler.Response) -> Any:
        if response.url.endswith("/"):
            yield response.follow("/app", meta={"render": True})
            yield response.follow("/plain")


async def test_a_request_asks_for_rendering_in_its_meta(chromium, site_server, out_db) -> None:
    server = site_server({"/": "<p>start</p>", "/app": app_shell(),
                          "/app.js": js(LINKS_LATER), "/plain": app_shell("/plain.js"),
                          "/plain.js": js(LINKS_LATER)})
    config = make_config([server.url("/")], fetch={"retries": 0})  # render: never
    await crawl_with(chromium, config, out_db, spider=AsksForRendering(config))
    by = dict((r["url"], r["fetched_by"])
              for r in rows(out_db, "SELECT url, fetched_by FROM pages"))
    assert by == {server.url("/"): "http", server.url("/app"): "browser",
                  server.url("/plain"): "http"}
    assert "/plain.js" not in server.paths and "/app.js" in server.paths


def mixed_site(pages: int) -> dict[str, Any]:
    """Static pages (plenty of text and links, one harmless script) beside script-built ones."""
    nav = "".join(f"<a href='/static/{n}'>static {n}</a> " for n in range(pages))
    nav += "".join(f"<a href='/app/{n}'>app {n}</a> " for n in range(pages))
    words = " ".join(f"word{n}" for n in range(80))
    site: dict[str, Any] = {"/": f"<html><body><nav>{nav}</nav><p>{words}</p></body></html>",
                            "/static.js": js("console.log('hi')"),
                            "/app.js": js(LINKS_LATER.replace("/a", "/static/0"))}
    for n in range(pages):
        site[f"/static/{n}"] = (f"<html><body><nav>{nav}</nav><p>{words}</p>"
                                "<script src='/static.js'></script></body></html>")
        site[f"/app/{n}"] = app_shell()
    return site


async def test_auto_renders_the_script_built_pages_and_not_the_static_ones(
        chromium, site_server, out_db) -> None:
    server = site_server(mixed_site(8))
    config = make_config([server.url("/")], fetch={"render": "auto", "retries": 0})
    await crawl_with(chromium, config, out_db)
    by = {r["url"]: r["fetched_by"] for r in rows(out_db, "SELECT url, fetched_by FROM pages")}
    assert len(by) == 1 + 8 + 8 + 1  # and /b, which only the rendered app pages link to
    assert server.url("/b") in by
    assert {u for u, f in by.items() if f == "browser"} == {
        server.url(f"/app/{n}") for n in range(8)}
    # Measured at the server: each app page's script was loaded, no static page's was.
    assert server.paths.count("/app.js") == 8
    assert server.paths.count("/static.js") == 0


async def test_screenshots_are_stored_and_exported_to_a_folder(chromium, site_server, out_db,
                                                               tmp_path) -> None:
    server = site_server({"/": app_shell(), "/app.js": js(LINKS_LATER),
                          "/a": "<p>a</p>", "/b": "<p>b</p>"})
    config = make_config([server.url("/")], fetch={"render": "always"},
                         store={"screenshot": True, "screenshot_full_page": False})
    await crawl_with(chromium, config, out_db)
    shots = rows(out_db, "SELECT p.url, s.full_page, s.png FROM screenshots s "
                         "JOIN pages p ON p.id = s.page_id")
    assert len(shots) == 3
    assert all(s["png"].startswith(b"\x89PNG\r\n\x1a\n") and s["full_page"] == 0 for s in shots)
    from crawler.cli import main
    folder = tmp_path / "shots"
    assert main(["export", str(out_db), "--what", "screenshots", "-o", str(folder)]) == 0
    files = sorted(p.name for p in folder.iterdir())
    assert len(files) == 3 and all(f.endswith(".png") for f in files)
    assert (folder / files[0]).read_bytes().startswith(b"\x89PNG")


async def test_images_fonts_and_media_are_not_loaded_unless_asked(chromium, site_server,
                                                                  tmp_path) -> None:
    page = ("<html><head><style>@font-face {font-family: f; src: url(/f.woff2)}"
            "body {font-family: f}</style></head><body><p>text</p>"
            "<img src='/pic.png'><video src='/v.mp4' autoplay></video></body></html>")
    server = site_server({"/": page})
    await crawl_with(chromium, render_config(server), tmp_path / "light.db")
    assert not {"/pic.png", "/f.woff2", "/v.mp4"} & set(server.paths)
    server.reset_log()
    await crawl_with(chromium, render_config(server, render_block=[]), tmp_path / "all.db")
    assert "/pic.png" in server.paths


async def test_contexts_are_recycled_and_none_is_left_open(chromium, site_server,
                                                           out_db) -> None:
    links = "".join(f"<a href='/p{m}'>{m}</a>" for m in range(8))
    server = site_server({f"/p{n}": links + "<script></script>" for n in range(8)})
    config = render_config(server, "/p0", browser_recycle=2, browser_concurrency=2)
    _, run = await crawl_with(chromium, config, out_db)
    renderer = run.fetcher.renderer
    assert renderer.renders == 8
    assert renderer.contexts_opened >= 8 // 2
    browser = await chromium.browser()
    assert browser.contexts == []  # the crawl closed every context it opened


async def test_a_crashed_browser_is_restarted_and_the_page_retried(chromium, site_server,
                                                                   out_db) -> None:
    class Crash(crawler.Spider):
        name = "crash"
        killed: list[int] = []

        async def interact(self, page: Any, request: crawler.Request) -> None:
            if request.url.endswith("/crash") and not self.killed:
                for pid in browser_main_pids():
                    os.kill(pid, signal.SIGKILL)
                    self.killed.append(pid)
                await page.wait_for_timeout(5000)  # the browser dies under this

    server = site_server({"/": "<a href='/crash'>x</a><script></script>",
                          "/crash": "<p>made it</p><script></script>"})
    config = make_config([server.url("/")], fetch={"render": "always", "retries": 2,
                                                   "backoff": 0})
    generation = chromium.generation
    await crawl_with(chromium, config, out_db, spider=Crash(config))
    assert Crash.killed
    assert chromium.generation == generation + 1
    page = rows(out_db, "SELECT fetched_by, text FROM pages WHERE url = ?",
                server.url("/crash"))[0]
    assert page["fetched_by"] == "browser" and "made it" in page["text"]
    assert scalar(out_db, "SELECT count(*) FROM errors") == 0
