"""What a response is: only HTML is parsed; other types are metadata, kept or skipped."""

from __future__ import annotations

import pytest

from crawler import crawl
from tests.badserver import answer, endless
from tests.conftest import make_config, rows, scalar
from tests.peak_rss import MIB
from tests.site import Page, html_page

pytestmark = pytest.mark.timeout(30)

JSON_WITH_A_LINK = '{"note": "<a href=\\"/trap\\">not a link</a>"}'


async def test_non_html_is_stored_as_metadata_without_reading_its_body(bad_server,
                                                                       out_db) -> None:
    # 1 GiB declared: reading it would hit max_body_size (a too_large error); it is never read.
    video = endless(limit=1024 * MIB, declare=True, headers={"Content-Type": "video/mp4"})
    server = bad_server({"/": answer(html_page("Home", links=["/film.mp4"])),
                         "/film.mp4": video})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert rows(out_db, "SELECT status, content_type, body, size, title, "
                        "headers ->> 'content-length' AS length FROM pages WHERE url = ?",
                server.url("/film.mp4")) == [{"status": 200, "content_type": "video/mp4",
                                              "body": None, "size": 0, "title": None,
                                              "length": "1073741824"}]
    tally = server.tally("/film.mp4")
    assert tally.client_left and tally.sent < 64 * MIB
    assert stats.errors == 0 and stats.pages == 2


async def test_non_html_bodies_are_kept_unparsed_with_non_html_body(site_server,
                                                                    out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/data.json"]),
                          "/data.json": Page(JSON_WITH_A_LINK, content_type="application/json")})

    await crawl(config=make_config([server.url("/")], store={"non_html": "body"}),
                output=out_db)

    assert rows(out_db, "SELECT body, title, text FROM pages WHERE url = ?",
                server.url("/data.json")) == [{"body": JSON_WITH_A_LINK.encode(),
                                               "title": None, "text": None}]
    assert "/trap" not in server.paths  # the JSON was not parsed for links
    assert scalar(out_db, "SELECT count(*) FROM links WHERE href = '/trap'") == 0


async def test_non_html_skip_stores_no_row_but_counts_it_and_keeps_its_errors(site_server,
                                                                              out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=["/data.json", "/logo.png", "/gone.txt"]),
        "/data.json": Page(JSON_WITH_A_LINK, content_type="application/json"),
        "/logo.png": Page(b"\x89PNG\r\n\x1a\n", content_type="image/png"),
        "/gone.txt": Page("gone", status=404, content_type="text/plain")})

    stats = await crawl(config=make_config([server.url("/")], store={"non_html": "skip"}),
                        output=out_db)

    assert [r["url"] for r in rows(out_db, "SELECT url FROM pages")] == [server.url("/")]
    assert stats.dropped["non_html"] == 3
    assert rows(out_db, "SELECT url, kind, status FROM errors") == [
        {"url": server.url("/gone.txt"), "kind": "http", "status": 404}]


async def test_an_untyped_body_is_parsed_only_when_it_looks_like_html(bad_server,
                                                                      out_db) -> None:
    page = b"\xef\xbb\xbf  <!DOCTYPE html><title>Bare</title><a href='/next'>next</a>"
    blob = b"%PDF-1.7 <html> comes later, so this is not HTML"
    server = bad_server({"/": answer(html_page("Home", links=["/bare", "/blob"])),
                         "/bare": answer(page, content_type=None),
                         "/blob": answer(blob, content_type=None),
                         "/next": answer(html_page("Next"))})

    await crawl(config=make_config([server.url("/")]), output=out_db)

    found = {r["url"]: r for r in rows(out_db, "SELECT url, content_type, title, body "
                                               "FROM pages")}
    assert (found[server.url("/bare")]["title"], found[server.url("/bare")]["body"]) == (
        "Bare", page)
    assert found[server.url("/next")]["title"] == "Next"   # its link was followed
    assert found[server.url("/blob")] == {"url": server.url("/blob"), "content_type": None,
                                         "title": None, "body": None}
