"""Incremental recrawl: conditional requests, 304 as unchanged, changes found by content hash."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from crawler import crawl
from tests.conftest import make_config, rows, scalar
from tests.site import Page, html_page, path_of

pytestmark = pytest.mark.timeout(30)


@dataclass
class Version:
    html: str
    etag: str | None = None
    last_modified: str | None = None


class VersionedSite:
    """Pages with ETag / Last-Modified that answer 304 when the validator still matches."""

    def __init__(self, pages: dict[str, Version]) -> None:
        self.pages = pages

    def respond(self, path: str, headers: Mapping[str, str]) -> Page | None:
        version = self.pages.get(path)
        if version is None:
            return None
        validators = {}
        if version.etag:
            validators["ETag"] = version.etag
        if version.last_modified:
            validators["Last-Modified"] = version.last_modified
        if (version.etag and headers.get("If-None-Match") == version.etag) or (
                version.last_modified
                and headers.get("If-Modified-Since") == version.last_modified):
            return Page(body="", status=304, headers=validators)
        return Page(body=version.html, headers=validators)


LAST_MODIFIED = "Tue, 03 Nov 2026 10:00:00 GMT"


def first_site() -> VersionedSite:
    return VersionedSite({
        "/": Version(html_page("Home", links=["/etag", "/dated", "/plain", "/edited"]),
                     etag='"home-1"'),
        "/etag": Version(html_page("Etag v1"), etag='"etag-1"'),
        "/dated": Version(html_page("Dated"), last_modified=LAST_MODIFIED),
        "/plain": Version(html_page("Plain")),
        "/edited": Version(html_page("Edited v1")),
    })


def changes(db, crawl_id: int) -> dict[str, str]:
    return {path_of(r["url"]): r["change"] for r in rows(
        db, "SELECT url, change FROM pages WHERE crawl_id = ?", crawl_id)}


async def test_a_recrawl_sends_validators_and_records_what_changed(site_server, out_db) -> None:
    server = site_server()
    server.site = first_site()
    config = make_config([server.url("/")])
    await crawl(config=config, output=out_db)
    site = server.site
    site.pages["/etag"] = Version(html_page("Etag v2", links=["/fresh"]), etag='"etag-2"')
    site.pages["/edited"] = Version(html_page("Edited v2"))
    site.pages["/fresh"] = Version(html_page("Fresh"))
    server.reset_log()

    stats = await crawl(config=config, settings={"recrawl": True}, output=out_db)

    sent = {r.path: r.headers for r in server.requests}
    assert sent["/"]["if-none-match"] == '"home-1"'
    assert sent["/etag"]["if-none-match"] == '"etag-1"'
    assert sent["/dated"]["if-modified-since"] == LAST_MODIFIED
    assert "if-none-match" not in sent["/plain"] and "if-modified-since" not in sent["/plain"]
    assert changes(out_db, stats.crawl_id) == {
        "/": "unchanged",          # 304
        "/dated": "unchanged",     # 304
        "/plain": "unchanged",     # 200, same content hash
        "/etag": "changed",
        "/edited": "changed",
        "/fresh": "new",           # found through the changed page
    }
    assert rows(out_db, "SELECT id, recrawl_of FROM crawls") == [
        {"id": 1, "recrawl_of": None}, {"id": 2, "recrawl_of": 1}]
    # A 304 row carries the hash of the content it confirms.
    assert scalar(out_db, "SELECT count(DISTINCT content_hash) FROM pages "
                          "WHERE url = ?", server.url("/dated")) == 1


async def test_changes_since_the_last_run_are_one_query(site_server, out_db) -> None:
    server = site_server()
    server.site = first_site()
    config = make_config([server.url("/")])
    await crawl(config=config, output=out_db)
    await crawl(config=config, settings={"recrawl": True}, output=out_db)
    server.site.pages["/plain"] = Version(html_page("Plain, edited"))

    await crawl(config=config, settings={"recrawl": True}, output=out_db)

    changed = rows(out_db, """
        SELECT url FROM pages
        WHERE crawl_id = (SELECT max(id) FROM crawls) AND change IN ('changed', 'new')""")
    assert changed == [{"url": server.url("/plain")}]
    history = rows(out_db, "SELECT crawl_id, change FROM pages WHERE url = ? ORDER BY crawl_id",
                   server.url("/plain"))
    assert history == [{"crawl_id": 1, "change": None}, {"crawl_id": 2, "change": "unchanged"},
                       {"crawl_id": 3, "change": "changed"}]


async def test_a_recrawl_without_an_earlier_crawl_is_a_plain_crawl(site_server, out_db) -> None:
    server = site_server()
    server.site = first_site()

    stats = await crawl(config=make_config([server.url("/")]), settings={"recrawl": True},
                        output=out_db)

    assert stats.pages == 5
    assert set(changes(out_db, stats.crawl_id).values()) == {"new"}
