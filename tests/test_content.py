"""What a response is: only HTML is parsed, other types are metadata, kept or skipped;
and text is decoded with the right charset, whatever bytes arrive."""

from __future__ import annotations

import random

import pytest

from crawler import crawl
from crawler.html.content import charset_of
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


# -- charsets -------------------------------------------------------------------------


def page_in(charset: str, title: str, *, meta: str = "", text: str = "") -> bytes:
    return (f"<!doctype html><html><head>{meta}<title>{title}</title></head>"
            f"<body><p>{text or title}</p><a href='/next'>next</a></body></html>").encode(charset)


async def test_latin1_declared_only_by_a_meta_charset_decodes_right(site_server,
                                                                     out_db) -> None:
    # 0x93/0x94 are curly quotes in windows-1252, which the iso-8859-1 label means on the web.
    body = page_in("cp1252", "\u201cCafé\u201d crème brûlée",
                   meta='<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1">')
    server = site_server({"/": Page(body, content_type="text/html"),
                          "/next": html_page("Next")})

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert rows(out_db, "SELECT title, encoding FROM pages WHERE url = ?", server.url("/")) == [
        {"title": "\u201cCafé\u201d crème brûlée", "encoding": "windows-1252"}]


async def test_an_undeclared_charset_that_is_not_utf8_is_detected(site_server, out_db) -> None:
    russian = "Это страница на русском языке, в кодировке windows-1251, нигде не объявленной."
    server = site_server({"/": Page(page_in("cp1251", "Привет, мир", text=russian),
                                    content_type="text/html")})

    await crawl(config=make_config([server.url("/")]), output=out_db)

    (page,) = rows(out_db, "SELECT title, text, encoding FROM pages WHERE url = ?",
                   server.url("/"))
    assert (page["title"], page["encoding"]) == ("Привет, мир", "cp1251")
    assert russian in page["text"]


async def test_invalid_utf8_decodes_with_replacement_and_the_crawl_goes_on(site_server,
                                                                            out_db) -> None:
    body = b"<html><head><title>Broken \xc3\x28 \xff title</title></head><body>" \
           b"<p>caf\xe9 \xed\xa0\x80</p><a href='/next'>next</a></body></html>"
    server = site_server({"/": Page(body, content_type="text/html; charset=utf-8"),
                          "/next": html_page("Next")})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    title = scalar(out_db, "SELECT title FROM pages WHERE url = ?", server.url("/"))
    assert title.startswith("Broken \ufffd(") and title.endswith("\ufffd title")
    assert "/next" in server.paths and stats.errors == 0


async def test_random_bytes_served_as_html_do_not_crash_anything(site_server, out_db) -> None:
    noise = random.Random(20261121).randbytes(256 * 1024)  # above parse_in_thread_above too
    server = site_server({"/": html_page("Home", links=["/noise", "/noise-utf8", "/bogus"]),
                          "/noise": Page(noise, content_type="text/html"),
                          "/noise-utf8": Page(noise, content_type="text/html; charset=utf-8"),
                          "/bogus": Page(noise, content_type="text/html; charset=base64")})

    stats = await crawl(config=make_config([server.url("/")], store={"markdown": True}),
                        output=out_db)

    assert stats.errors == 0 and stats.status == "finished"
    stored = rows(out_db, "SELECT body, text IS NOT NULL AS has_text FROM pages WHERE url != ?",
                  server.url("/"))
    assert stored == [{"body": noise, "has_text": 1}] * 3


@pytest.mark.parametrize(("declared", "body", "expected"), [
    ("ISO-8859-1", b"caf\xe9", "windows-1252"),           # the WHATWG meaning of the label
    ("latin-1", b"\xef\xbb\xbfcaf\xc3\xa9", "utf-8-sig"),  # a BOM beats the header
    (None, b"<meta charset='utf-16'>caf\xc3\xa9", "utf-8"),  # <meta> cannot mean UTF-16
    ("idna", b"<meta charset=koi8-r>", "koi8-r"),          # no web encoding: ignored
    ("utf-7", b"plain ascii", "utf-8"),                    # an XSS vector: ignored
    (None, "Größe".encode(), "utf-8"),                     # valid UTF-8 needs no detector
])
def test_charset_labels_follow_the_web_not_python(declared, body, expected) -> None:
    assert charset_of(declared, body) == expected
