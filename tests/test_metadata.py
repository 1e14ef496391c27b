"""Page metadata from each place a page states it, how conflicts resolve, schema.org items."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler import crawl
from crawler.html.metadata import iso_date, page_metadata
from crawler.html.structured import find_types, structured_data
from tests.conftest import make_config, rows

PAGES = Path(__file__).parent / "data" / "pages"
URL = "https://site.example/a/page.html"


def meta(head: str, body: str = "", lang: str = "") -> dict:
    html = f"<html{lang}><head>{head}</head><body>{body}</body></html>"
    return page_metadata(LexborHTMLParser(html), URL)


def ld(obj: object) -> str:
    return f'<script type="application/ld+json">{json.dumps(obj)}</script>'


def test_plain_html_gives_title_language_description_and_canonical() -> None:
    found = meta('<title> The  title </title><meta name="description" content="Short.">'
                 '<link rel="canonical" href="/a/canonical">', lang=' lang="en-GB"')
    assert found == {
        "title": "The title", "description": "Short.", "language": "en-GB",
        "canonical": "https://site.example/a/canonical",
        "sources": {"title": "html", "description": "meta", "language": "html",
                    "canonical": "html"}}


def test_opengraph_fields() -> None:
    found = meta('<meta property="og:title" content="OG title">'
                 '<meta property="og:site_name" content="The Site">'
                 '<meta property="og:url" content="https://site.example/og">'
                 '<meta property="og:image" content="/img/a.jpg">'
                 '<meta property="og:type" content="article">'
                 '<meta property="og:locale" content="pt_BR">'
                 '<meta property="article:published_time" content="2026-01-02T03:04:05+02:00">'
                 '<meta property="article:modified_time" content="2026-01-03">'
                 '<meta property="article:author" content="Ana Lima">')
    assert found["title"] == "OG title" and found["site_name"] == "The Site"
    assert found["canonical"] == "https://site.example/og"
    assert found["image"] == "https://site.example/img/a.jpg"
    assert found["language"] == "pt-BR" and found["type"] == "article"
    assert found["published"] == "2026-01-02T01:04:05.000Z" and found["modified"] == "2026-01-03"
    assert found["author"] == "Ana Lima"
    assert set(found["sources"].values()) == {"opengraph"}


def test_json_ld_with_a_graph_finds_the_page_object_not_the_site() -> None:
    found = page_metadata(LexborHTMLParser((PAGES / "blog.html").read_bytes()), URL)
    assert found["title"] == "Retrying HTTP requests without blocking the event loop"
    assert found["type"] == "BlogPosting" and found["author"] == "Sam Okafor"
    assert (found["published"], found["modified"]) == ("2025-11-02", "2025-11-20T08:00:00.000Z")
    assert found["keywords"] == ["asyncio", "http", "retries"]
    assert found["sources"]["title"] == "schema.org"


def test_microdata_is_read_as_schema_org_too() -> None:
    body = ('<div itemscope itemtype="https://schema.org/Recipe"><h1 itemprop="name">Fish stew'
            '</h1><span itemprop="author" itemscope itemtype="https://schema.org/Person">'
            '<span itemprop="name">Ana</span></span><time itemprop="datePublished" '
            'datetime="2026-02-01">1 Feb</time><span itemprop="recipeIngredient">cod</span>'
            '<span itemprop="recipeIngredient">leeks</span></div>')
    found = meta("<title>Fish stew | Kitchen</title>", body)
    assert (found["title"], found["author"], found["published"], found["type"]) == (
        "Fish stew", "Ana", "2026-02-01", "Recipe")
    (obj,) = structured_data(LexborHTMLParser(f"<body>{body}</body>"))
    assert obj["recipeIngredient"] == ["cod", "leeks"]
    assert obj["author"] == {"@type": "https://schema.org/Person", "name": "Ana"}


def test_conflicts_resolve_by_source_order() -> None:
    head = ("<title>Page title | Site</title>"
            '<meta property="og:title" content="OG title">'
            '<meta name="twitter:title" content="Twitter title">'
            '<meta name="description" content="Meta description">'
            '<meta property="og:description" content="OG description">'
            '<meta name="author" content="Meta Author">'
            '<meta property="article:published_time" content="2020-01-01">'
            '<link rel="canonical" href="https://site.example/canonical">'
            '<meta property="og:url" content="https://site.example/og-url">'
            '<meta property="og:locale" content="fr_FR">'
            + ld({"@type": "NewsArticle", "headline": "Schema headline",
                  "description": "Schema description", "author": [{"name": "A. One"},
                                                                  {"name": "B. Two"}],
                  "datePublished": "2021-06-01T12:00:00Z", "inLanguage": "de",
                  "url": "https://site.example/schema-url"}))
    found = meta(head, lang=' lang="en"')
    assert found["title"] == "Schema headline"  # schema.org, then og:title, ..., <title>
    assert found["description"] == "Meta description"  # the site's own summary first
    assert found["author"] == "A. One, B. Two"
    assert found["published"] == "2021-06-01T12:00:00.000Z"
    assert found["language"] == "en"  # <html lang> is what the page says it is written in
    assert found["canonical"] == "https://site.example/canonical"
    assert found["sources"] == {"title": "schema.org", "description": "meta",
                                "author": "schema.org", "published": "schema.org",
                                "language": "html", "canonical": "html", "type": "schema.org"}


def test_broken_json_ld_and_odd_values_are_skipped_not_errors() -> None:
    head = ('<script type="application/ld+json">{"@type": "Article", "headline": </script>'
            + ld([{"@type": "WebSite", "name": "Site"}, "not an object", 7])
            + ld({"@type": ["Article", "Thing"], "headline": 12, "author": {"name": ""},
                  "datePublished": "last Tuesday"}))
    found = meta(head)
    assert found["title"] == "12" and found["site_name"] == "Site"
    assert found["published"] == "last Tuesday"  # unreadable: kept as written
    assert "author" not in found


def test_a_page_without_metadata_has_none() -> None:
    assert meta("", "<p>hello</p>") == {}


def test_dates_become_iso_8601_utc() -> None:
    assert iso_date("2026-03-14T09:30:00+01:00") == "2026-03-14T08:30:00.000Z"
    assert iso_date("2026-03-14T09:30:00Z") == "2026-03-14T09:30:00.000Z"
    assert iso_date("Tue, 19 Nov 2019 13:16:00 GMT") == "2019-11-19T13:16:00.000Z"
    assert iso_date("2026-03-14") == "2026-03-14"
    assert iso_date("2026-03-14T09:30:00") == "2026-03-14T09:30:00"  # no zone: as given
    assert iso_date("March 14") == "March 14"


@pytest.mark.parametrize(("page", "objects"), [
    (b"<body><p>No schema.org here</p></body>", 0),
    (b'<body><DIV ITEMSCOPE ITEMTYPE="https://schema.org/Thing"><b ITEMPROP="name">x</b>'
     b"</DIV></body>", 1),
    (b'<script type="Application/LD+JSON">{"@type": "Event", "name": "Fair"}</script>', 1),
    ('<script type="application/ld+json">{"@type": "Event"}</script>'.encode("utf-16"), 1),
])
def test_schema_org_data_is_found_whatever_the_case_or_encoding(page: bytes,
                                                               objects: int) -> None:
    tree = LexborHTMLParser(page.decode("utf-16") if page[:2] == b"\xff\xfe" else page)
    assert len(structured_data(tree)) == objects


@pytest.mark.parametrize(("asked", "found"), [
    ("Article", ["NewsArticle"]), ("NewsArticle", ["NewsArticle"]), ("Product", []),
])
def test_schema_types_match_their_subtypes(asked: str, found: list[str]) -> None:
    objects = structured_data(LexborHTMLParser((PAGES / "news.html").read_bytes()))
    assert [obj["@type"] for _, obj in find_types(objects, [asked])] == found


def test_an_object_nested_in_another_is_found() -> None:
    page = ld({"@type": "WebPage", "mainEntity": {"@type": "Recipe", "name": "Stew",
                                                  "recipeYield": "4"}})
    objects = structured_data(LexborHTMLParser(page))
    assert list(find_types(objects, ["Recipe"])) == [
        ("Recipe", {"@type": "Recipe", "name": "Stew", "recipeYield": "4"})]


async def test_a_crawl_stores_metadata_and_turns_json_ld_into_items(site_server, out_db) -> None:
    product = (PAGES / "product.html").read_text(encoding="utf-8")
    server = site_server({"/": product.replace('href="/lanterns"', 'href="/news"'),
                          "/news": (PAGES / "news.html").read_text(encoding="utf-8")})
    config = make_config([server.url("/")], schema_items=["Product", "Article"],
                         scope={"max_depth": 1})
    stats = await crawl(config=config, output=out_db)
    assert stats.items == 2
    items = {item["type"]: json.loads(item["data"]) for item in
             rows(out_db, "SELECT type, data FROM items")}
    assert items["Product"]["offers"]["price"] == "64.00" and "@context" not in items["Product"]
    assert items["Article"]["@type"] == "NewsArticle"
    found = {row["url"]: row for row in rows(
        out_db, "SELECT url, metadata ->> 'title' AS title, metadata ->> 'published' "
                "AS published, metadata ->> 'language' AS lang FROM pages")}
    home, news = found[server.url("/")], found[server.url("/news")]
    assert home["title"] == "Brass Storm Lantern, 30 cm" and home["lang"] == "en-US"
    assert news["published"] == "2026-03-14T08:30:00.000Z" and news["lang"] == "en-GB"


async def test_metadata_can_be_turned_off(site_server, out_db) -> None:
    server = site_server({"/": (PAGES / "news.html").read_text(encoding="utf-8")})
    config = make_config([server.url("/")], store={"metadata": False}, scope={"max_depth": 0})
    await crawl(config=config, output=out_db)
    assert rows(out_db, "SELECT metadata FROM pages") == [{"metadata": None}]
