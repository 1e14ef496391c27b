"""The LLM-ready corpus end to end: a real crawl with Markdown on, then `crawler stats`
finds the near-duplicates and `crawler export` writes Markdown files and JSON Lines.

The site holds an article, its printer version, the same URL with a tracking
parameter (the very same bytes), a syndicated copy on another section with
another site's furniture, other articles, a 404 and a noindex page.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawler import crawl
from crawler.store.schema import SCHEMA, SCHEMA_VERSION
from tests.conftest import make_config, rows, scalar
from tests.dbsite import run_cli
from tests.site import SiteServer

PAGES = Path(__file__).parent / "data" / "pages"
NEWS = (PAGES / "news.html").read_text(encoding="utf-8")
STORY_START = NEWS.index('<div class="story-body">')
STORY = NEWS[STORY_START:NEWS.index("</div>\n      <footer", STORY_START) + 6]
HEADLINE = "Harbour lighthouse returns to service after two-year restoration"
GUIDE = "<html><body><main><h1>Guide</h1>" + "".join(
    f"<h2>Part {i}</h2>" + "<p>Tie the line with a round turn and two half hitches. </p>" * 8
    for i in range(6)) + "</main></body></html>"


def site(server: SiteServer) -> dict[str, Any]:
    canonical = f'<link rel="canonical" href="{server.url("/story")}">'
    return {
        "/": "<html><body><ul>" + "".join(
            f'<li><a href="{p}">{p}</a></li>' for p in (
                "/story", "/story/print", "/story?utm_source=feed", "/syndicated/story",
                "/blog", "/guide", "/missing", "/secret")) + "</ul></body></html>",
        "/story": NEWS.replace("<head>", "<head>" + canonical),
        "/story?utm_source=feed": NEWS.replace("<head>", "<head>" + canonical),
        "/story/print": f"<html><head>{canonical}<title>Print</title></head><body>"
                        f"<p class=print-header>Printed from herald.example</p>"
                        f"<h1>{HEADLINE}</h1>{STORY}</body></html>",
        "/syndicated/story": "<html lang=en><head><title>Wire copy</title></head><body>"
                             "<nav><a href=/>Other Site</a> <a href=/x>Sections</a></nav>"
                             f"<article><h1>{HEADLINE}</h1>{STORY}<p>Originally published"
                             " by The Coastal Herald.</p></article>"
                             "<footer>Other Site, all rights reserved</footer></body></html>",
        "/blog": (PAGES / "blog.html").read_text(encoding="utf-8"),
        "/guide": GUIDE,
        "/secret": '<html><head><meta name="robots" content="noindex"></head>'
                   "<body><p>Not for any index, thank you very much.</p></body></html>",
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The database of one crawl of the site, and the site's base URL."""
    server = SiteServer()
    server.start()
    try:
        server.site = site(server)
        path = tmp_path_factory.mktemp("corpus") / "corpus.db"
        config = make_config([server.url("/")], store={"markdown": True},
                             scope={"max_depth": 1})
        asyncio.run(crawl(config=config, output=path))
        return path, server.base
    finally:
        server.stop()


def corpus_files(directory: Path) -> dict[str, tuple[dict[str, Any], str]]:
    """{url: (front matter, markdown)} of an exported directory."""
    found = {}
    for path in directory.rglob("*.md"):
        _, front, body = path.read_text(encoding="utf-8").split("---\n", 2)
        fields = yaml.safe_load(front)
        found[fields["url"] + (f"#{fields['chunk']}" if "chunk" in fields else "")] = (
            fields, body.lstrip("\n"))
    return found


def test_pages_get_a_simhash_and_exact_copies_share_their_content_hash(db) -> None:
    path, base = db
    by_url = {r["url"]: r for r in rows(path, "SELECT url, simhash, content_hash, markdown, "
                                              "metadata FROM pages")}
    story, twin = by_url[f"{base}/story"], by_url[f"{base}/story?utm_source=feed"]
    assert story["content_hash"] == twin["content_hash"] and story["simhash"] == twin["simhash"]
    assert story["simhash"] != by_url[f"{base}/blog"]["simhash"]
    assert by_url[f"{base}/secret"]["markdown"] is None  # noindex: no content kept
    assert by_url[f"{base}/secret"]["simhash"] is None
    assert by_url[f"{base}/secret"]["metadata"] is None


def test_stats_lists_the_near_duplicates_keeping_the_canonical_page(db) -> None:
    path, base = db
    result = run_cli("stats", path, "--json")
    report = json.loads(result.out)
    assert report["exact_duplicate_groups"] == 1
    assert report["near_duplicate_groups"] == 1
    (group,) = report["near_duplicates"]
    assert group["kept"] == f"{base}/story"
    assert sorted(group["copies"]) == sorted(
        f"{base}{p}" for p in ("/story?utm_source=feed", "/story/print", "/syndicated/story"))
    text = run_cli("stats", path).out
    assert "Near-duplicate pages (1 group(s) of pages with identical bodies)" in text
    assert f"  4 pages, within {group['bits']} bits: {base}/story" in text


def test_a_tighter_distance_splits_the_group(db) -> None:
    path, base = db
    report = json.loads(run_cli("stats", path, "--json", "--distance", "0").out)
    (group,) = report["near_duplicates"]  # the same main text, the syndicated copy's is not
    assert group["bits"] == 0 and group["kept"] == f"{base}/story"
    assert sorted(group["copies"]) == [f"{base}/story/print", f"{base}/story?utm_source=feed"]


def test_the_markdown_export_writes_a_file_per_page_with_front_matter(db, tmp_path) -> None:
    path, base = db
    out = tmp_path / "corpus"
    result = run_cli("export", path, "--format", "markdown", "-o", f"{out}/")
    files = corpus_files(out)
    # every 2xx page with content: not the 404 and not the noindex page
    assert set(files) == {f"{base}{p}" for p in (
        "/", "/story", "/story/print", "/story?utm_source=feed", "/syndicated/story", "/blog",
        "/guide")}
    assert result.err == f"wrote 7 pages (7 files) to {out}/\n"
    fields, body = files[f"{base}/story"]
    assert fields["title"] == HEADLINE and fields["language"] == "en-GB"
    assert fields["published"] == "2026-03-14T08:30:00.000Z"
    assert fields["canonical"] == f"{base}/story" and fields["site_name"] == "The Coastal Herald"
    assert list(fields)[:2] == ["url", "title"] and "page_id" not in fields
    assert body.startswith(f"# {HEADLINE}\n\nThe lighthouse at Port Calder")
    assert all(p.parent.name == base.split("//")[1].replace(":", "_")
               for p in out.rglob("*.md"))


def test_near_duplicates_can_be_left_out_of_an_export(db, tmp_path) -> None:
    path, base = db
    out = tmp_path / "deduped"
    result = run_cli("export", path, "--format", "markdown", "--dedupe", "near", "-o", out)
    urls = set(corpus_files(out))
    assert f"{base}/story" in urls and f"{base}/blog" in urls
    assert not urls & {f"{base}{p}" for p in ("/story/print", "/story?utm_source=feed",
                                              "/syndicated/story")}
    assert "left out 3 duplicate page(s)" in result.err
    exact = tmp_path / "exact"
    run_cli("export", path, "--format", "markdown", "--dedupe", "exact", "-o", exact)
    assert len(corpus_files(exact)) == 6  # only the byte-identical twin goes


def test_jsonl_corpus_chunks_carry_url_and_heading_path(db, tmp_path) -> None:
    path, base = db
    out = tmp_path / "chunks.jsonl"
    result = run_cli("export", path, "--what", "corpus", "--format", "jsonl",
                     "--chunk-size", "300", "-o", out)
    assert result.code == 0, result.err
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(len(r["markdown"]) <= 300 for r in records)
    guide = [r for r in records if r["url"] == f"{base}/guide"]
    assert [r["chunk"] for r in guide] == list(range(1, len(guide) + 1))
    assert {r["chunks"] for r in guide} == {len(guide)}
    assert guide[0]["headings"] == ["Guide", "Part 0"]
    assert guide[-1]["headings"] == ["Guide", "Part 5"]
    assert guide[-1]["markdown"].endswith("two half hitches.")


def test_jsonl_corpus_without_chunks_has_a_record_per_page(db) -> None:
    path, base = db
    result = run_cli("export", path, "--what", "corpus")
    records = {json.loads(line)["url"]: json.loads(line) for line in result.out.splitlines()}
    story = records[f"{base}/story"]
    assert story["markdown"].startswith(f"# {HEADLINE}") and story["author"] == "Meg Tanaka"
    assert story["page_id"] and story["crawl_id"] == 1 and "chunk" not in story


def test_page_exports_carry_metadata_and_simhash(db) -> None:
    path, base = db
    result = run_cli("export", path, "--format", "jsonl", "--dedupe", "near")
    pages = {json.loads(line)["url"]: json.loads(line) for line in result.out.splitlines()}
    assert pages[f"{base}/blog"]["metadata"]["type"] == "BlogPosting"
    assert isinstance(pages[f"{base}/blog"]["simhash"], int)
    assert f"{base}/story/print" not in pages and f"{base}/missing" in pages
    assert result.err == "left out 3 duplicate page(s)\n"


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "markdown"), "a Markdown export writes a directory: -o DIR/"),
    (("--format", "csv", "--what", "corpus", "-o", "x.csv"),
     "the corpus is written as --format markdown (a file per page) or --format jsonl"),
    (("--chunk-size", "500"), "--chunk-size cuts the corpus' Markdown"),
    (("--what", "items", "--dedupe", "near"), "--dedupe leaves pages out of page and corpus"),
])
def test_export_options_that_mean_nothing_are_refused(db, args, message) -> None:
    result = run_cli("export", db[0], *args)
    assert result.code == 2 and message in result.err


def test_a_markdown_export_never_writes_into_a_directory_with_files(db, tmp_path) -> None:
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    result = run_cli("export", db[0], "--format", "markdown", "-o", out)
    assert result.code == 2 and "exists and is not an empty directory" in result.err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert not (tmp_path / "taken.part").exists()


def test_a_chunk_size_below_the_minimum_is_a_usage_error(db) -> None:
    with pytest.raises(SystemExit):
        run_cli("export", db[0], "--what", "corpus", "--chunk-size", "10")


def test_stats_says_when_no_page_has_a_simhash(site_server, out_db) -> None:
    server = site_server({"/": NEWS})
    asyncio.run(crawl(config=make_config([server.url("/")], scope={"max_depth": 0}),
                      output=out_db))
    text = run_cli("stats", out_db).out
    assert "not computed: no page has a SimHash (crawl with store.markdown: true)" in text


def test_a_version_3_database_gains_metadata_and_simhash(site_server, tmp_path) -> None:
    path = tmp_path / "v3.db"
    v3 = SCHEMA.replace("    redirects       TEXT,", "    redirects       TEXT")
    v3 = "\n".join(line for line in v3.split("\n")
                   if not line.lstrip().startswith(("fetched_by ", "metadata ", "simhash ")))
    with sqlite3.connect(path) as con:
        con.executescript(v3 + "PRAGMA user_version = 3;")
    assert "simhash" not in {r["name"] for r in rows(path, "PRAGMA table_info(pages)")}
    server = site_server({"/": NEWS})
    asyncio.run(crawl(config=make_config([server.url("/")], store={"markdown": True},
                                         scope={"max_depth": 0}), output=path))
    assert scalar(path, "PRAGMA user_version") == SCHEMA_VERSION
    (page,) = rows(path, "SELECT metadata ->> 'site_name' AS site, simhash FROM pages")
    assert page["site"] == "The Coastal Herald" and page["simhash"] is not None
