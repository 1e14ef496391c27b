"""Reader processes (`fetch.parse_processes`): pages parsed and read beside the event loop.

A page read in a reader process is stored exactly as one read inline; a
reader that dies is replaced and its pages read again; a page that kills
its reader twice is a parse error, not a lost page; no reader outlives the
crawl, whether it ends, is interrupted with Ctrl-C, or its process dies.
"""

from __future__ import annotations

import asyncio
import fcntl
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawler import Crawler, Spider
from crawler.engine import crawler as engine_crawler
from crawler.engine.readers import ReaderDied, ReaderPool
from crawler.html.parser import Link, LinkColumns
from crawler.html.reading import PIPE_SIZE, ReadOptions, frame, read_page, receive, serve
from tests.conftest import FAST_SETTINGS, cli_command, cli_env, make_config, rows
from tests.site import SiteServer
from tests.test_corpus import site as corpus_site

pytestmark = pytest.mark.timeout(60)

READER = "crawler.html.reading"
RULE = {"match": "/story", "type": "story",
        "fields": {"headline": "h1::text", "paragraphs": ["p::text"]}}


def reader_pids_of(parent: int) -> list[int]:
    """Reader processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and READER in command:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return status != "Z"


def stored(db: Path) -> dict[str, Any]:
    """Everything a crawl stored that reading a page decides, keyed for comparison."""
    return {
        "pages": rows(db, "SELECT url, status, title, text, markdown, metadata, simhash, "
                          "content_hash, body, size FROM pages ORDER BY url"),
        "links": rows(db, "SELECT p.url AS page, l.url, l.href, l.text FROM links l "
                          "JOIN pages p ON p.id = l.page_id ORDER BY p.url, l.rowid"),
        "items": rows(db, "SELECT i.url, i.type, i.data FROM items i ORDER BY i.url, i.type, "
                          "i.data"),
        "errors": rows(db, "SELECT url, kind, status FROM errors ORDER BY url, kind"),
        "search": rows(db, "SELECT p.url FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid "
                           "WHERE pages_fts MATCH 'lighthouse' ORDER BY p.url"),
    }


async def crawl_with(server: SiteServer, db: Path, processes: int, **sections: Any) -> Crawler:
    config = make_config([server.url("/")], scope={"max_depth": 2},
                         store={"markdown": True}, fetch={"parse_processes": processes},
                         schema_items=["NewsArticle", "BlogPosting"], **sections)
    crawler = Crawler(config=config, output=db)
    await crawler.run()
    return crawler


async def test_pages_read_in_reader_processes_are_stored_exactly_as_read_inline(
        site_server, tmp_path) -> None:
    server = site_server(corpus_site)
    inline = await crawl_with(server, tmp_path / "inline.db", 0, extract=[RULE])
    pooled = await crawl_with(server, tmp_path / "pooled.db", 2, extract=[RULE])
    assert inline.readers is None
    assert pooled.readers is not None and pooled.readers.pages >= 8
    here, there = stored(tmp_path / "inline.db"), stored(tmp_path / "pooled.db")
    assert there == here
    assert len(here["pages"]) >= 9 and here["links"] and here["search"]
    assert {item["type"] for item in here["items"]} >= {"story", "NewsArticle"}
    secret = next(p for p in there["pages"] if p["url"].endswith("/secret"))
    assert secret["text"] is None and secret["body"] is None  # noindex, read elsewhere too


def test_read_page_gives_the_parts_the_inline_path_computes() -> None:
    body = b"<html><head><title> A  page </title><meta name=robots content=nofollow></head>" \
           b"<body><nav><a href=/x>x</a></nav><main><p>Hello there</p></main></body></html>"
    reading = read_page(body, "http://example.test/a/", "utf-8", ReadOptions())
    assert reading.title == "A page"
    assert [link.url for link in reading.links] == ["http://example.test/x"]
    assert reading.robots_meta == [("robots", "nofollow")]
    assert reading.document.text == "Hello there"
    assert len(reading.content_hash) == 32


async def test_a_spiders_callback_gets_a_tree_parsed_when_it_asks(site_server, out_db) -> None:
    server = site_server({"/": "<html><body><h1>Home</h1><a href=/b>b</a></body></html>",
                          "/b": "<html><body><h1>Bee</h1></body></html>"})

    class Headlines(Spider):
        start_urls = (server.url("/"),)
        custom_settings = {**FAST_SETTINGS, "fetch.parse_processes": 1}

        def parse(self, response):
            yield {"h1": response.css_first("h1").text()}
            yield from response.links()

    crawler = Crawler(Headlines, output=out_db)
    await crawler.run()
    assert crawler.readers is not None and crawler.readers.pages == 2
    assert sorted(r["data"] for r in rows(out_db, "SELECT data FROM items")) == [
        '{"h1": "Bee"}', '{"h1": "Home"}']


def many_pages(n: int) -> dict[str, str]:
    pages = {f"/p/{i}": f"<html><head><title>Page {i}</title></head><body><main>"
                        f"<p>Page number {i} says hello.</p><a href=/p/{i + 1}>next</a>"
                        f"<a href=/p/{2 * i + 1}>far</a></main></body></html>"
             for i in range(n)}
    pages["/"] = "<html><body><a href=/p/0>start</a></body></html>"
    return pages


async def test_a_reader_that_dies_is_replaced_and_no_page_is_lost(site_server, out_db) -> None:
    server = site_server(many_pages(60), latency=0.01)
    config = make_config([server.url("/")], fetch={"parse_processes": 1, "concurrency": 8})
    crawler = Crawler(config=config, output=out_db)
    killed: list[int] = []

    def kill_the_reader(response) -> None:
        if crawler.readers is not None and response.url.endswith(("/p/10", "/p/30")):
            pid = crawler.readers.pids()[0]
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    crawler.hooks.response_received.append(kill_the_reader)
    await crawler.run()
    assert len(killed) == 2 and crawler.readers.replaced >= 2
    pages = rows(out_db, "SELECT url, title, text FROM pages WHERE status = 200 "
                         "AND url LIKE '%/p/%'")
    assert len(pages) == 60
    assert all(p["text"] and p["title"] for p in pages)
    assert rows(out_db, "SELECT kind, message FROM errors WHERE kind != 'http'") == []
    assert not any(alive(pid) for pid in killed)


async def test_readers_run_the_crawls_own_code_whatever_the_working_directory_holds(
        site_server, out_db, tmp_path, monkeypatch) -> None:
    # Run from another checkout, a reader started with `-c` imported that checkout's
    # `crawler` (the working directory comes first on sys.path).
    (tmp_path / "crawler").mkdir()
    (tmp_path / "crawler" / "__init__.py").write_text("raise ImportError('the wrong crawler')\n")
    monkeypatch.chdir(tmp_path)
    server = site_server(many_pages(20))
    crawler = Crawler(config=make_config([server.url("/")], fetch={"parse_processes": 1}),
                      output=out_db)
    await crawler.run()
    assert crawler.readers is not None and crawler.readers.replaced == 0
    pages = rows(out_db, "SELECT title, text FROM pages WHERE status = 200 AND url LIKE '%/p/%'")
    assert len(pages) == 20 and all(p["text"] and p["title"] for p in pages)
    assert rows(out_db, "SELECT kind FROM errors WHERE kind != 'http'") == []


class DyingPool(ReaderPool):
    """A pool whose readers always die holding the page."""

    tries = 0

    def take(self) -> bool:
        return True

    async def read(self, body: bytes, url: str, encoding: str) -> Any:
        DyingPool.tries += 1
        raise ReaderDied("the page reader process (pid 1) ended with exit code -11")


async def test_a_page_that_kills_its_reader_twice_is_a_parse_error(
        site_server, out_db, monkeypatch) -> None:
    server = site_server({"/": "<html><head><title>Bomb</title></head><body>x</body></html>"})
    monkeypatch.setattr(engine_crawler, "pool_for",
                        lambda config, spider, form: DyingPool(ReadOptions(), 1))
    await Crawler(config=make_config([server.url("/")]), output=out_db).run()
    assert DyingPool.tries == 2
    assert rows(out_db, "SELECT url, status, title FROM pages") == [
        {"url": server.url("/"), "status": 200, "title": None}]
    [error] = rows(out_db, "SELECT kind, message FROM errors")
    assert error["kind"] == "parse" and "tried twice" in error["message"]


async def test_the_readers_end_with_the_crawl(site_server, out_db) -> None:
    server = site_server(many_pages(20))
    config = make_config([server.url("/")], fetch={"parse_processes": 2})
    crawler = Crawler(config=config, output=out_db)
    seen: set[int] = set()
    crawler.hooks.response_received.append(
        lambda response: seen.update(crawler.readers.pids() if crawler.readers else ()))
    await crawler.run()
    assert len(seen) == 2
    assert crawler.readers is not None and crawler.readers.pids() == []
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in seen) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not any(alive(pid) for pid in seen)
    assert reader_pids_of(os.getpid()) == []


@pytest.mark.parametrize("how", ["sigint", "sigkill"])
def test_no_reader_outlives_an_interrupted_or_killed_crawl(site_server, tmp_path, how) -> None:
    server = site_server(many_pages(400), latency=0.05)
    config = tmp_path / "slow.yaml"
    config.write_text(yaml.safe_dump({
        "name": "slow", "start_urls": [server.url("/")],
        "politeness": {"robots_txt": "ignore", "per_host_delay": 0},
        "fetch": {"parse_processes": 2, "concurrency": 2}}))
    proc = subprocess.Popen(cli_command("run", str(config), "-o", str(tmp_path / "o.db"), "-q"),
                            env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        readers: list[int] = []
        deadline = time.monotonic() + 20
        while len(readers) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
            readers = reader_pids_of(proc.pid)
        assert len(readers) == 2
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in readers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(pid) for pid in readers), proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_link_columns_splice_the_page_id_only_at_row_starts() -> None:
    links = [Link("http://a.test/x", "x", 'a "quoted" ["\x00", text', None, False),
             Link(None, "mailto:q@a.test", "mail", "scheme", True)]
    columns = pickle.loads(pickle.dumps(LinkColumns(links)))
    assert len(columns) == 2 and columns.targets == ["http://a.test/x", "mailto:q@a.test"]
    assert [tuple(row[:4]) for row in json.loads("[" + columns.rows_json(7) + "]")] == [
        (7, "http://a.test/x", "x", 'a "quoted" ["\x00", text'),
        (7, None, "mailto:q@a.test", "mail")]
    assert list(columns) == links
    assert len(LinkColumns([])) == 0 and LinkColumns([]).rows_json(1) == ""


class _ShortWrites(io.RawIOBase):
    """A pipe as a raw file sees it when signals stop the writer: part of each write."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        taken = bytes(b[:1000])
        self.data += taken
        return len(taken)


@pytest.mark.skipif(not hasattr(fcntl, "F_GETPIPE_SZ"), reason="pipe sizes are Linux's")
def test_a_readers_pipes_hold_256_kib_each_way() -> None:
    reader = subprocess.Popen([sys.executable, "-c", f"from {READER} import main; main()"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        page = b"<html><title>t</title><body><p>words</p></body></html>"
        reader.stdin.write(frame(ReadOptions()) + frame((1, page, "http://127.0.0.1/", "utf-8")))
        reader.stdin.flush()
        assert receive(reader.stdout)[0] == 1  # answered: it set its pipes before reading
        sizes = [fcntl.fcntl(pipe.fileno(), fcntl.F_GETPIPE_SZ)
                 for pipe in (reader.stdin, reader.stdout)]
        assert sizes == [PIPE_SIZE, PIPE_SIZE]
    finally:
        reader.stdin.close()
        reader.wait(timeout=10)


def test_a_reader_answers_whole_frames_when_its_writes_are_cut_short() -> None:
    """Under PYTHONUNBUFFERED a reader writes to the raw pipe, where a write stopped by a
    signal (Ctrl-Z, a profiler) writes only part of a frame: the rest must still follow."""
    page = b"<html><title>t</title><body>" + b"<p>lighthouse words</p>" * 400 + b"</body></html>"
    requests = b"".join(frame(message) for message in
                        [ReadOptions(), (1, page, "http://a.test/", "utf-8"),
                         (2, page, "http://a.test/2", "utf-8")])
    sink = _ShortWrites()
    serve(io.BytesIO(requests), sink)
    answers = io.BytesIO(bytes(sink.data))
    assert [receive(answers)[0], receive(answers)[0], receive(answers)] == [1, 2, None]


def test_a_reader_process_starts_without_the_engine_aiohttp_or_rich() -> None:
    # Importing them took each reader 0.70-0.88 CPU-s at its start; `crawler`'s public
    # names load on first use instead, and still all resolve.
    code = ("import sys, crawler.html.reading; "
            "print(sorted(m for m in ('aiohttp', 'rich', 'crawler.engine.crawler') "
            "if m in sys.modules)); "
            "import crawler; print(all(getattr(crawler, name) for name in crawler.__all__))")
    out = subprocess.run([sys.executable, "-c", code], env=cli_env(), capture_output=True,
                         text=True, timeout=30, check=True).stdout.split("\n")
    assert out[:2] == ["[]", "True"]
