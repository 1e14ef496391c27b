"""Sitemaps: discovery, indexes, gzip, caps and errors, against a loopback server."""

from __future__ import annotations

import gzip
import sqlite3

import pytest

from crawler import Request, Spider, crawl
from crawler.errors import ConfigError, SitemapError
from crawler.sitemaps.xml import Entry, SitemapParser, XmlBody, normalize_lastmod
from crawler.store.schema import SCHEMA_VERSION
from tests.conftest import FAST_SETTINGS, make_config, rows, scalar
from tests.site import Page, html_page

NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XML = "application/xml"


def urlset(base: str, paths: list[str], lastmods: dict[str, str] | None = None) -> str:
    entries = []
    for path in paths:
        lastmod = (lastmods or {}).get(path)
        extra = f"<lastmod>{lastmod}</lastmod>" if lastmod else ""
        url = path if path.startswith("http") else base + path
        entries.append(f"<url><loc>{url}</loc>{extra}</url>")
    return f'<?xml version="1.0"?>\n<urlset xmlns="{NS}">{"".join(entries)}</urlset>'


def index(base: str, paths: list[str]) -> str:
    entries = "".join(f"<sitemap><loc>{base}{p}</loc></sitemap>" for p in paths)
    return f'<?xml version="1.0"?>\n<sitemapindex xmlns="{NS}">{entries}</sitemapindex>'


def robots(*lines: str) -> Page:
    return Page("User-agent: *\n" + "".join(f"{line}\n" for line in lines),
                content_type="text/plain")


def xml(body: str | bytes, **kwargs) -> Page:
    return Page(body, content_type=XML, **kwargs)


def hidden(n: int) -> dict[str, str]:
    """Pages that no page links to: only a sitemap can lead to them."""
    return {f"/hidden/{i}": html_page(f"Hidden {i}") for i in range(n)}


def sitemap_config(server, **sections):
    sections.setdefault("politeness", {})
    sections["politeness"] = {"robots_txt": "obey", **sections["politeness"]}
    return make_config([server.url("/")], sitemaps=True, **sections)


def crawled(db, server) -> set[str]:
    return {r["url"][len(server.base):] for r in rows(db, "SELECT url FROM pages")}


# ---- discovery --------------------------------------------------------------


async def test_pages_listed_only_in_a_sitemap_are_crawled(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/maps/pages.xml"),
        "/maps/pages.xml": xml(urlset(s.base, ["/hidden/0", "/hidden/1"])),
        **hidden(2),
    })

    stats = await crawl(config=sitemap_config(server), output=out_db)

    assert crawled(out_db, server) == {"/", "/hidden/0", "/hidden/1"}
    found = rows(out_db, "SELECT depth, referrer FROM pages WHERE url LIKE '%/hidden/%'")
    assert found == [{"depth": 0, "referrer": server.url("/maps/pages.xml")}] * 2
    assert scalar(out_db, "SELECT count(*) FROM pages WHERE url LIKE '%.xml'") == 0
    assert stats.sitemaps == {"fetched": 1, "urls": 2, "scheduled": 2}
    left = scalar(out_db, "SELECT count(*) FROM frontier WHERE state NOT IN ('done', 'failed')")
    assert left == 0      # the sitemap's own request is finished too: nothing to resume


async def test_sitemaps_are_read_once_an_unreachable_robots_txt_answers(site_server,
                                                                      out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": [(503, "down"), robots(f"Sitemap: {s.base}/maps/pages.xml")],
        "/maps/pages.xml": xml(urlset(s.base, ["/hidden/0"])),
        **hidden(1),
    })

    await crawl(config=sitemap_config(server, politeness={
        "robots_backoff": 0.05, "robots_max_backoff": 0.1}), output=out_db)

    assert server.paths.count("/robots.txt") == 2
    assert crawled(out_db, server) == {"/", "/hidden/0"}


async def test_sitemaps_are_off_by_default(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/sitemap.xml"),
        "/sitemap.xml": xml(urlset(s.base, ["/hidden/0"])),
        **hidden(1),
    })

    await crawl(config=make_config([server.url("/")], politeness={"robots_txt": "obey"}),
                output=out_db)

    assert "/sitemap.xml" not in server.paths
    assert crawled(out_db, server) == {"/"}


@pytest.mark.parametrize("robots_txt", ["obey", "ignore"])
async def test_sitemap_xml_is_tried_when_robots_txt_names_none(site_server, out_db,
                                                               robots_txt) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots("Disallow: /nothing"),
        "/sitemap.xml": xml(urlset(s.base, ["/hidden/0"])),
        **hidden(1),
    })

    config = sitemap_config(server, politeness={"robots_txt": robots_txt})
    await crawl(config=config, output=out_db)

    assert crawled(out_db, server) == {"/", "/hidden/0"}
    assert ("/robots.txt" in server.paths) == (robots_txt == "obey")


@pytest.mark.parametrize("answer", ["404", "an HTML page"])
async def test_a_missing_sitemap_xml_is_counted_not_an_error(site_server, out_db,
                                                             answer) -> None:
    site = {"/": html_page("Home", links=["/a"]), "/a": html_page("A"), "/robots.txt": robots()}
    if answer == "an HTML page":  # what a catch-all route serves for any path
        site["/sitemap.xml"] = html_page("Home again")
    server = site_server(site)

    stats = await crawl(config=sitemap_config(server), output=out_db)

    assert server.paths.count("/sitemap.xml") == 1
    assert stats.sitemaps == {"missing": 1}
    assert scalar(out_db, "SELECT count(*) FROM errors") == 0
    assert crawled(out_db, server) == {"/", "/a"}


async def test_an_explicit_sitemap_request_is_read_without_the_setting(site_server,
                                                                       out_db) -> None:
    server = site_server(lambda s: {"/feed.xml": xml(urlset(s.base, ["/hidden/0"])),
                                    **hidden(1)})

    class FromSitemap(Spider):
        name = "explicit"

        def start_requests(self):
            yield Request(server.url("/feed.xml"), kind="sitemap")

    await crawl(FromSitemap, output=out_db, settings=FAST_SETTINGS)

    assert crawled(out_db, server) == {"/hidden/0"}


async def test_a_failing_sitemap_is_retried(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/sitemap.xml"),
        "/sitemap.xml": [Page("busy", status=503), xml(urlset(s.base, ["/hidden/0"]))],
        **hidden(1),
    })

    config = sitemap_config(server, fetch={"backoff": 0.05, "max_backoff": 0.1})
    stats = await crawl(config=config, output=out_db)

    assert server.paths.count("/sitemap.xml") == 2
    assert crawled(out_db, server) == {"/", "/hidden/0"}
    assert stats.retries == 1 and stats.errors == 0


# ---- indexes and compression -------------------------------------------------


async def test_an_index_leads_to_gzip_files_and_gzip_encoded_sitemaps(site_server,
                                                                      out_db) -> None:
    def site(s):
        return {
            "/": html_page("Home"),
            "/robots.txt": robots(f"Sitemap: {s.base}/index.xml"),
            "/index.xml": xml(index(s.base, ["/a.xml.gz", "/b.xml.gz", "/c.xml"])),
            # .gz files served as files: no Content-Encoding, a gzip media type
            "/a.xml.gz": Page(gzip.compress(urlset(s.base, ["/hidden/0"]).encode()),
                              content_type="application/gzip"),
            "/b.xml.gz": Page(gzip.compress(urlset(s.base, ["/hidden/1"]).encode()),
                              content_type="application/x-gzip"),
            # compressed for the transfer only
            "/c.xml": xml(gzip.compress(urlset(s.base, ["/hidden/2"]).encode()),
                          headers={"Content-Encoding": "gzip"}),
            **hidden(3),
        }
    server = site_server(site)

    stats = await crawl(config=sitemap_config(server), output=out_db)

    assert crawled(out_db, server) == {"/", "/hidden/0", "/hidden/1", "/hidden/2"}
    assert stats.sitemaps == {"fetched": 4, "children": 3, "urls": 3, "scheduled": 3}
    assert scalar(out_db, "SELECT count(*) FROM errors") == 0


async def test_an_index_listing_itself_is_read_once(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/index.xml"),
        "/index.xml": xml(index(s.base, ["/index.xml", "/pages.xml", "/pages.xml"])),
        "/pages.xml": xml(urlset(s.base, ["/hidden/0"])),
        **hidden(1),
    })

    stats = await crawl(config=sitemap_config(server), output=out_db)

    assert server.paths.count("/index.xml") == 1
    assert server.paths.count("/pages.xml") == 1
    assert stats.sitemaps["not_fetched"] == 2  # itself, and the repeated child
    assert crawled(out_db, server) == {"/", "/hidden/0"}


async def test_nested_indexes_stop_at_max_sitemap_depth(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/i0.xml"),
        "/i0.xml": xml(index(s.base, ["/i1.xml"])),
        "/i1.xml": xml(index(s.base, ["/i2.xml"])),
        "/i2.xml": xml(urlset(s.base, ["/hidden/0"])),
        **hidden(1),
    })

    config = sitemap_config(server, limits={"max_sitemap_depth": 1})
    await crawl(config=config, output=out_db)

    assert "/i2.xml" not in server.paths
    (error,) = rows(out_db, "SELECT url, kind, message, referrer FROM errors")
    assert error["url"] == server.url("/i1.xml") and error["kind"] == "sitemap"
    assert "max_sitemap_depth" in error["message"]
    assert error["referrer"] == server.url("/i0.xml")


async def test_max_sitemaps_caps_the_files_fetched_in_a_crawl(site_server, out_db) -> None:
    children = [f"/s{i}.xml" for i in range(5)]
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/index.xml"),
        "/index.xml": xml(index(s.base, children)),
        **{c: xml(urlset(s.base, [])) for c in children},
    })

    stats = await crawl(config=sitemap_config(server, limits={"max_sitemaps": 3}),
                        output=out_db)

    assert [p for p in server.paths if p.endswith(".xml")] == ["/index.xml", "/s0.xml",
                                                               "/s1.xml"]
    assert stats.sitemaps["not_fetched"] == 3
    messages = [r["message"] for r in rows(out_db, "SELECT message FROM errors")]
    assert len(messages) == 1 and "max_sitemaps (3) reached" in messages[0]


# ---- scope, robots.txt and politeness -------------------------------------------


async def test_off_scope_and_disallowed_sitemaps_are_not_fetched(site_server,
                                                                 out_db) -> None:
    elsewhere = site_server({"/sitemap.xml": xml(urlset("http://x", []))}, host="127.0.0.3")
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots("Disallow: /private/", f"Sitemap: {elsewhere.url('/sitemap.xml')}",
                              "Sitemap: /private/sitemap.xml", "Sitemap: /public.xml"),
        "/private/sitemap.xml": xml(urlset(s.base, ["/hidden/0"])),
        "/public.xml": xml(urlset(s.base, ["/hidden/1", "/private/page",
                                           elsewhere.url("/offsite")])),
        **hidden(2),
        "/private/page": html_page("Private"),
    }, host="127.0.0.2")

    stats = await crawl(config=sitemap_config(server), output=out_db)

    assert elsewhere.paths == []
    assert "/private/sitemap.xml" not in server.paths
    assert crawled(out_db, server) == {"/", "/hidden/1"}
    assert stats.sitemaps["not_fetched"] == 2
    assert stats.dropped["offsite"] == 2  # the sitemap and the URL a sitemap listed
    refused = rows(out_db, "SELECT url FROM errors WHERE kind = 'robots' ORDER BY url")
    assert refused == [{"url": server.url("/private/page")},
                       {"url": server.url("/private/sitemap.xml")}]


async def test_sitemap_urls_pass_the_page_scope_rules(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/sitemap.xml"),
        "/sitemap.xml": xml(urlset(s.base, ["/hidden/0", "/hidden/1", "/skip/me"])),
        **hidden(2),
    })

    # The root and /hidden/ pages only: include and exclude are about pages, not
    # about the sitemap files that list them.
    scope = {"include": [r":\d+/$", "/hidden/"], "exclude": [r"hidden/1$"]}
    stats = await crawl(config=sitemap_config(server, scope=scope), output=out_db)

    assert "/sitemap.xml" in server.paths
    assert crawled(out_db, server) == {"/", "/hidden/0"}
    assert (stats.dropped["excluded"], stats.dropped["not_included"]) == (1, 1)


async def test_sitemap_fetches_keep_the_host_delay(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/sitemap.xml"),
        "/sitemap.xml": xml(urlset(s.base, ["/hidden/0"])),
        **hidden(1),
    })

    config = sitemap_config(server, politeness={"per_host_delay": 0.2})
    await crawl(config=config, output=out_db)

    assert sorted(server.paths) == ["/", "/hidden/0", "/robots.txt", "/sitemap.xml"]
    assert min(server.arrival_gaps()) >= 0.2 - 0.02


# ---- what is stored --------------------------------------------------------------


async def test_lastmod_is_stored_in_utc_and_joins_pages(site_server, out_db) -> None:
    lastmods = {"/hidden/0": "2024-05-01T10:00:00+02:00", "/hidden/1": "2024-05-02",
                "/hidden/2": "yesterday"}
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/sitemap.xml"),
        "/sitemap.xml": xml(urlset(s.base, [*lastmods, "/hidden/3"], lastmods)),
        **hidden(4),
    })

    await crawl(config=sitemap_config(server), output=out_db)

    got = rows(out_db, "SELECT s.url, s.lastmod, s.sitemap, p.status FROM sitemap_urls s "
                       "JOIN pages p ON p.url = s.url ORDER BY s.url")
    assert [(r["url"], r["lastmod"], r["status"]) for r in got] == [
        (server.url("/hidden/0"), "2024-05-01T08:00:00.000Z", 200),
        (server.url("/hidden/1"), "2024-05-02", 200),
        (server.url("/hidden/2"), "yesterday", 200),
        (server.url("/hidden/3"), None, 200),
    ]
    assert {r["sitemap"] for r in got} == {server.url("/sitemap.xml")}
    newer = scalar(out_db, "SELECT count(*) FROM sitemap_urls WHERE lastmod >= '2024-05-02'")
    assert newer == 2  # the date and the text as written sort after it; the UTC time before


async def test_an_old_database_gains_the_sitemap_urls_table(site_server, out_db) -> None:
    server = site_server(lambda s: {
        "/": html_page("Home"),
        "/robots.txt": robots(f"Sitemap: {s.base}/sitemap.xml"),
        "/sitemap.xml": xml(urlset(s.base, ["/hidden/0"])),
        **hidden(1),
    })
    await crawl(config=make_config([server.url("/")]), output=out_db)
    with sqlite3.connect(out_db) as con:  # as a file written before sitemaps existed
        con.execute("DROP TABLE sitemap_urls")
        con.execute("PRAGMA user_version = 1")

    await crawl(config=sitemap_config(server), output=out_db)

    assert scalar(out_db, "SELECT count(*) FROM sitemap_urls") == 1
    assert scalar(out_db, "PRAGMA user_version") == SCHEMA_VERSION


# ---- errors and caps --------------------------------------------------------------


async def test_broken_sitemaps_are_errors_and_the_crawl_goes_on(site_server, out_db) -> None:
    def site(s):
        good = urlset(s.base, ["/hidden/0", "/hidden/1"])
        truncated = good[: good.index("/hidden/1")]  # the first <url> is whole
        return {
            "/": html_page("Home", links=["/a"]), "/a": html_page("A"),
            "/robots.txt": robots(*(f"Sitemap: {s.base}{p}" for p in (
                "/gone.xml", "/broken.xml", "/html.xml", "/bad.gz"))),
            "/gone.xml": xml("no", status=404),
            "/broken.xml": xml(truncated),
            "/html.xml": Page(html_page("Not a sitemap")),
            "/bad.gz": Page(b"\x1f\x8b" + b"not gzip at all", content_type="application/gzip"),
            **hidden(2),
        }
    server = site_server(site)

    await crawl(config=sitemap_config(server), output=out_db)

    errors = {r["url"][len(server.base):]: r for r in rows(
        out_db, "SELECT url, kind, status, message FROM errors")}
    assert {e["kind"] for e in errors.values()} == {"sitemap"}
    assert errors["/gone.xml"]["status"] == 404
    assert errors["/broken.xml"]["message"].startswith("malformed XML")
    assert errors["/html.xml"]["message"].endswith("(served as text/html)")
    assert errors["/bad.gz"]["message"].startswith("bad gzip data")
    assert crawled(out_db, server) == {"/", "/a", "/hidden/0"}


async def test_a_sitemap_over_the_size_cap_is_cut_there(site_server, out_db) -> None:
    paths = [f"/hidden/{i}" for i in range(60)]
    cap = 2000

    def site(s):
        return {"/": html_page("Home"), "/robots.txt": robots(f"Sitemap: {s.base}/big.xml"),
                "/big.xml": xml(urlset(s.base, paths)), **hidden(60)}
    server = site_server(site)
    body = urlset(server.base, paths).encode()
    whole = [p for p in paths if body.index(f"{p}</loc></url>".encode()) + len(
        f"{p}</loc></url>") <= cap]  # entries that close before the cut
    assert 0 < len(whole) < len(paths)

    stats = await crawl(config=sitemap_config(server, limits={"max_sitemap_size": cap}),
                        output=out_db)

    assert stats.sitemaps["urls"] == len(whole)
    assert crawled(out_db, server) == {"/", *whole}
    message = scalar(out_db, "SELECT message FROM errors WHERE kind = 'sitemap'")
    assert message.startswith(f"cut at {cap} bytes (limits.max_sitemap_size)")


@pytest.mark.parametrize("served_as", ["gzip file", "content-encoding"])
async def test_a_gzip_bomb_stops_at_the_decompressed_cap(site_server, out_db,
                                                         served_as) -> None:
    def site(s):
        head = urlset(s.base, ["/hidden/0"]).replace("</urlset>", "")
        # 16 MiB of XML whitespace in ~16 KiB: far past the 1 MiB cap below.
        bomb = gzip.compress(head.encode() + b" " * (16 << 20), compresslevel=1)
        page = (Page(bomb, content_type="application/gzip") if served_as == "gzip file"
                else xml(bomb, headers={"Content-Encoding": "gzip"}))
        return {"/": html_page("Home"), "/robots.txt": robots(f"Sitemap: {s.base}/bomb"),
                "/bomb": page, **hidden(1)}
    server = site_server(site)

    config = sitemap_config(server, limits={"max_sitemap_decompressed": "1MB"})
    await crawl(config=config, output=out_db)

    message = scalar(out_db, "SELECT message FROM errors WHERE kind = 'sitemap'")
    assert message.startswith("more than 1048576 bytes of XML "
                              "(limits.max_sitemap_decompressed)")
    assert crawled(out_db, server) == {"/", "/hidden/0"}


async def test_entries_past_max_sitemap_urls_are_not_read(site_server, out_db) -> None:
    paths = [f"/hidden/{i}" for i in range(10)]
    server = site_server(lambda s: {
        "/": html_page("Home"), "/robots.txt": robots(f"Sitemap: {s.base}/sitemap.xml"),
        "/sitemap.xml": xml(urlset(s.base, paths)), **hidden(10)})

    await crawl(config=sitemap_config(server, limits={"max_sitemap_urls": 4}), output=out_db)

    assert crawled(out_db, server) == {"/", *paths[:4]}
    message = scalar(out_db, "SELECT message FROM errors WHERE kind = 'sitemap'")
    assert message.startswith("more than 4 entries (limits.max_sitemap_urls)")


# ---- the parser and the body, on their own --------------------------------------


def parse(document: bytes, *, chunk: int = 7, **kwargs) -> list[Entry]:
    found: list[Entry] = []
    parser = SitemapParser(found.append, max_entries=kwargs.pop("max_entries", 100), **kwargs)
    for i in range(0, len(document), chunk):
        parser.feed(document[i:i + chunk])
    parser.close()
    return found


def test_the_parser_reads_any_namespace_and_skips_extension_elements() -> None:
    document = b"""<?xml version="1.0"?>
<urlset xmlns="http://www.google.com/schemas/sitemap/0.84"
        xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">
  <url>
    <loc>
       http://a.test/x?a=1&amp;b=2
    </loc>
    <image:image><image:loc>http://a.test/img.jpg</image:loc></image:image>
    <lastmod> 2024-01-02 </lastmod>
  </url>
  <url><image:loc>http://a.test/only-an-image.jpg</image:loc></url>
</urlset>"""
    assert parse(document) == [Entry("url", "http://a.test/x?a=1&b=2", "2024-01-02")]
    bare = b"<sitemapindex><sitemap><loc>http://a.test/s.xml</loc></sitemap></sitemapindex>"
    assert parse(bare) == [Entry("sitemap", "http://a.test/s.xml", None)]


def test_the_parser_refuses_entity_declarations() -> None:
    laughs = (b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa">'
              b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
              b"<urlset><url><loc>http://x/&b;</loc></url></urlset>")
    with pytest.raises(SitemapError, match="declares an entity"):
        parse(laughs)


def test_the_body_reads_concatenated_gzip_members() -> None:
    body = gzip.compress(b"<urlset>") + gzip.compress(b"</urlset>")
    reader = XmlBody(1 << 20)
    out = b"".join(piece for i in range(0, len(body), 5) for piece in reader.feed(body[i:i + 5]))
    assert out + b"".join(reader.close()) == b"<urlset></urlset>"


def test_a_truncated_gzip_body_is_an_error() -> None:
    body = gzip.compress(b"<urlset>" + b" " * 1000 + b"</urlset>")
    reader = XmlBody(1 << 20)
    list(reader.feed(body[: len(body) // 2]))
    with pytest.raises(SitemapError, match="truncated gzip"):
        list(reader.close())


def test_lastmod_becomes_utc_and_dates_stay_dates() -> None:
    assert normalize_lastmod("2024-05-01T10:00:00+02:00") == "2024-05-01T08:00:00.000Z"
    assert normalize_lastmod("2024-05-01T10:00Z") == "2024-05-01T10:00:00.000Z"
    assert normalize_lastmod("2024-05-01T10:00:00") == "2024-05-01T10:00:00.000Z"
    assert normalize_lastmod("2024-05-01") == "2024-05-01"
    assert normalize_lastmod("2024-05") == "2024-05"
    assert normalize_lastmod("last week") == "last week"
    assert normalize_lastmod(None) is None


# ---- configuration ------------------------------------------------------------------


def test_sitemap_settings_are_validated_with_their_line(tmp_path) -> None:
    from crawler.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text("start_urls: ['http://a.test/']\nsitemaps: yes\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: sitemaps: expected true/false"):
        load_config(path)
    path.write_text("sitemaps: true\nlimits:\n  max_sitemap_urls: 0\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3: limits\.max_sitemap_urls: must be at"):
        load_config(path)
    path.write_text("sitemaps: true\n")
    config = load_config(path, overrides=["limits.max_sitemap_urls=10",
                                          "limits.max_sitemap_size=1MB"])
    assert (config.sitemaps, config.limits.max_sitemap_urls) == (True, 10)
    assert config.limits.max_sitemap_size == 1 << 20
    assert config.limits.max_sitemap_decompressed == 100 << 20
