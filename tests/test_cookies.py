"""Cookies and sessions: a site that sets a session cookie and wants it back is crawled
fully with `fetch.cookies: true` and refused without; the jar is saved with the crawl so a
resumed crawl keeps its session; cookies can be preset; a spider can log in with a form
first. Cookies follow RFC 6265: never sent to another host."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

import pytest

import crawler
from crawler import crawl
from tests.conftest import FAST_SETTINGS, make_config, rows, scalar
from tests.site import Page, RequestRecord, Site, SiteServer, html_page, path_of, tree_site

pytestmark = pytest.mark.timeout(90)

SESSION = "s3ss10n-Vk2"
PASSWORD = "l0gin-pw-Hx9"


@dataclass
class GatedSite:
    """Every page wants the session cookie back; `/` hands it out, or with `login` only a
    form POSTed to /login with the right password does (then 303 to /)."""

    pages: Site
    login: bool = False
    sessions_given: list[str] = field(default_factory=list)

    def answer(self, request: RequestRecord) -> Page | None:
        if request.path == "/login":
            return self._login(request)
        page = self.pages.get(request.path)
        if page is None:
            return None
        html = page if isinstance(page, str) else str(page)
        if not self.login and request.path == "/":
            self.sessions_given.append(request.path)
            return Page(html, headers={"Set-Cookie": f"session={SESSION}; Path=/; HttpOnly"})
        if _cookies(request).get("session") != SESSION:
            return Page(html_page("Forbidden"), status=403)
        return Page(html)

    def _login(self, request: RequestRecord) -> Page:
        form = parse_qs(request.body.decode())
        if request.method != "POST" or form != {"user": ["me"], "password": [PASSWORD]}:
            return Page(html_page("Login failed"), status=401)
        self.sessions_given.append(request.path)
        return Page("", status=303, headers={"Location": "/",
                                             "Set-Cookie": f"session={SESSION}; Path=/"})


def _cookies(request: RequestRecord) -> dict[str, str]:
    jar = SimpleCookie()
    jar.load(request.headers.get("cookie", ""))
    return {name: morsel.value for name, morsel in jar.items()}


def gated_server(site_server, pages: Site, **options) -> tuple[SiteServer, GatedSite]:
    server = site_server(host="127.0.0.2")
    server.site = gated = GatedSite(pages, **options)
    return server, gated


def statuses(db: Path) -> dict[str, int]:
    return {path_of(r["url"]): r["status"] for r in rows(db, "SELECT url, status FROM pages")}


@pytest.mark.parametrize("cookies", [True, False])
async def test_a_cookie_gated_site_is_crawled_fully_with_cookies_on_and_refused_without(
        site_server, tmp_path, cookies) -> None:
    pages = tree_site(40)
    server, _ = gated_server(site_server, pages)
    db = tmp_path / "x.db"

    await crawl(config=make_config([server.url("/")], fetch={"cookies": cookies}), output=db)

    got = statuses(db)
    if cookies:
        assert got == dict.fromkeys(pages, 200)
        assert all(r.headers.get("cookie") == f"session={SESSION}"
                   for r in server.requests if r.path != "/")
    else:  # the first page works; the pages it links to answer 403, and that is the end
        assert got == {"/": 200, "/p/1": 403, "/p/2": 403, "/p/3": 403}
        assert all("cookie" not in r.headers for r in server.requests)
        assert scalar(db, "SELECT count(*) FROM cookies") == 0


async def test_a_resumed_crawl_keeps_its_session_cookies(site_server, tmp_path) -> None:
    pages = tree_site(40)
    server, gated = gated_server(site_server, pages)
    db = tmp_path / "x.db"
    config = make_config([server.url("/")], fetch={"cookies": True},
                         limits={"max_pages": 5})

    first = await crawl(config=config, output=db)
    saved = rows(db, "SELECT domain, path, name, value, expires, http_only, host_only "
                     "FROM cookies")
    second = await crawl(config=config, output=db,
                         settings={"limits.max_pages": None, "resume": "always"})

    assert first.stop_reason == "max_pages" and second.status == "finished"
    assert saved == [{"domain": "127.0.0.2", "path": "/", "name": "session", "value": SESSION,
                      "expires": None, "http_only": 1, "host_only": 1}]
    assert gated.sessions_given == ["/"]  # the second run never went back for a cookie
    assert statuses(db) == dict.fromkeys(pages, 200)
    assert rows(db, "SELECT id, runs FROM crawls") == [{"id": 1, "runs": 2}]


async def test_preset_cookies_open_a_gated_site_and_go_to_their_domain_only(
        site_server, tmp_path, monkeypatch) -> None:
    pages = tree_site(10)
    server, gated = gated_server(site_server, pages, login=True)  # no page hands one out
    other = site_server(tree_site(3), host="127.0.0.3")
    monkeypatch.setenv("SESSION_COOKIE", SESSION)
    db = tmp_path / "x.db"
    config = make_config([server.url("/"), other.url("/")], fetch={
        "cookies": True, "preset_cookies": {"127.0.0.2": {"session": "${SESSION_COOKIE}"}}})

    await crawl(config=config, output=db)

    assert rows(db, "SELECT status, count(*) AS n FROM pages GROUP BY status") == [
        {"status": 200, "n": 10 + 3}]
    assert gated.sessions_given == []
    assert all("cookie" not in r.headers for r in other.requests)
    assert json.loads(scalar(db, "SELECT config FROM crawls"))["fetch"]["preset_cookies"] == {
        "127.0.0.2": {"session": "${SESSION_COOKIE}"}}


async def test_cookies_set_by_one_host_are_not_sent_to_another_after_a_redirect(
        site_server, tmp_path) -> None:
    elsewhere = site_server({"/landing": html_page("Landing")}, host="127.0.0.3")
    home = site_server({
        "/": Page(html_page("Home", links=["/away"]),
                  headers={"Set-Cookie": "token=abc; Path=/"}),
        "/away": Page("", status=302, headers={"Location": elsewhere.url("/landing")}),
    }, host="127.0.0.2")
    db = tmp_path / "x.db"
    config = make_config([home.url("/")], fetch={"cookies": True},
                         scope={"allowed_domains": ["127.0.0.2", "127.0.0.3"]})

    await crawl(config=config, output=db)

    assert [r.path for r in elsewhere.requests] == ["/landing"]
    assert "cookie" not in elsewhere.requests[0].headers
    assert home.requests[-1].headers.get("cookie") == "token=abc"  # /away got it


async def test_a_spider_logs_in_with_a_form_and_then_crawls(site_server, tmp_path,
                                                           monkeypatch) -> None:
    pages = tree_site(30)
    server, gated = gated_server(site_server, pages, login=True)
    monkeypatch.setenv("SITE_PASSWORD", PASSWORD)
    module = tmp_path / "login_spider.py"
    module.write_text(textwrap.dedent(f"""\
        import os
        import crawler

        class LoginSpider(crawler.Spider):
            name = "login"
            start_urls = ["{server.url("/")}"]
            custom_settings = {{"fetch.cookies": True}}

            def start_requests(self):
                yield crawler.Request("{server.url("/login")}", callback=self.logged_in,
                                      form={{"user": "me",
                                             "password": os.environ["SITE_PASSWORD"]}},
                                      dont_filter=True)

            def logged_in(self, response):  # the 303 leads to / with the session cookie
                yield from self.parse(response)
        """))
    spider = crawler.spider.load_spider(str(module))
    db = tmp_path / "x.db"

    stats = await crawl(spider, settings=FAST_SETTINGS, output=db)

    assert stats.status == "finished"
    posted = [r for r in server.requests if r.method == "POST"]
    assert [r.path for r in posted] == ["/login"] and gated.sessions_given == ["/login"]
    assert statuses(db) == {"/login": 303, **dict.fromkeys(pages, 200)}
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("x.db*"))
    assert PASSWORD.encode() not in raw  # the form was never written down


async def test_a_form_is_posted_again_on_307_and_becomes_a_get_on_303(site_server,
                                                                      tmp_path) -> None:
    site = site_server({
        "/keep": Page("", status=307, headers={"Location": "/kept"}),
        "/kept": html_page("Kept"),
        "/switch": Page("", status=303, headers={"Location": "/switched"}),
        "/switched": html_page("Switched"),
    })

    class Poster(crawler.Spider):
        def start_requests(self):
            for path in ("/keep", "/switch"):
                yield crawler.Request(site.url(path), form={"q": "1"})

    await crawl(Poster, settings=FAST_SETTINGS, output=tmp_path / "x.db")

    seen = {r.path: (r.method, r.body, r.headers.get("content-type")) for r in site.requests}
    form = "application/x-www-form-urlencoded"
    assert seen == {"/keep": ("POST", b"q=1", form), "/kept": ("POST", b"q=1", form),
                    "/switch": ("POST", b"q=1", form), "/switched": ("GET", b"", None)}


async def test_a_credential_header_set_by_a_spider_is_sent_but_never_written(
        site_server, tmp_path) -> None:
    site = site_server(tree_site(3))

    class WithToken(crawler.Spider):
        def start_requests(self):
            yield crawler.Request(site.url("/"), headers={"Authorization": f"Bearer {SESSION}"})

    await crawl(WithToken, settings=FAST_SETTINGS, output=tmp_path / "x.db")

    assert site.requests[0].headers["authorization"] == f"Bearer {SESSION}"
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("x.db*"))
    assert SESSION.encode() not in raw
