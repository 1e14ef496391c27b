"""Everything the crawler derives from one HTML body, as plain data: what a reader process does.

`read_page(body, url, encoding, options)` parses the page once and returns
its title, links, robots `<meta>` pairs, the `Document` the crawl asked for
(text, Markdown, metadata, SimHash, schema.org items), the items of the
YAML `extract:` rules that match the URL, and the body's content hash. It is
the same code the engine runs inline (`parse_page`, `read_document`,
`extract_item`), so a page read here is stored exactly as one read inline.

Run by `main()`, it is a reader process: length-
prefixed pickles on stdin (first the `ReadOptions`, then `(id, body, url,
encoding)` per page), `(id, PageReading)` or `(id, error)` on stdout, in
order. It ignores SIGINT (the crawl decides when it ends) and exits when
stdin closes, so it never outlives the crawl that started it.
"""

from __future__ import annotations

import contextlib
import hashlib
import pickle
import signal
import struct
import sys
import traceback
from dataclasses import dataclass, field
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

from crawler.config import ExtractRule
from crawler.html.document import Document, read_document
from crawler.html.parser import (
    LinkColumns,
    ParsedPage,
    extract_item,
    parse_page,
    robots_meta,
    rules_for,
)
from crawler.urls import DEFAULT_FORM, Canonicalizer

HEADER = struct.Struct("<I")  # the length of the pickle that follows
# A reader's pipes hold ~40 pages each way instead of ~3 (Linux's default 64 KiB).
# With 64 KiB a long turn of the event loop left the reader idle once it had read
# the bodies in its pipe, and the loop then waited on the reader: on the
# benchmark crawl only one of the loop, the reader and the writer thread was
# runnable in 40% of the samples, a core idle (benchmarks/thread_states.py).
# 256 KiB: 29%, 1.02x the pages/s. 1 MiB (Linux's default pipe-max-size): the
# reader still ran dry 15% of the time at 256 KiB; 1.06-1.12x the pages/s of
# 256 KiB. The writer then becomes the stage the crawl waits for, which cost
# 15-30 MB of peak RSS until a full batch waited for the running write instead
# of queueing behind it (Store.maybe_flush).
PIPE_SIZE = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """What to read from each page (the crawl's store settings and extraction rules)."""

    text: bool = True
    markdown: bool = False
    metadata: bool = True
    schema_items: tuple[str, ...] = ()
    extract: tuple[ExtractRule, ...] = ()  # only for the YAML spider: see ConfigSpider
    form: Canonicalizer = DEFAULT_FORM  # the crawl's canonical URL form: links are made in it


@dataclass(slots=True)
class PageReading:
    """One page, read: everything the engine needs of it without the tree."""

    title: str | None
    links: LinkColumns
    robots_meta: list[tuple[str, str]]
    document: Document
    extracted: list[tuple[str | None, dict[str, Any]]] = field(default_factory=list)
    content_hash: str = ""


def content_hash(body: bytes) -> str:
    """The body's fingerprint: the first 128 bits of SHA-256, hex.

    SHA-256 because CPUs hash it in hardware: 13 us for 20 KB here, against
    26 us for BLAKE2b (measured), on every page the crawler stores.
    """
    return hashlib.sha256(body).hexdigest()[:32]


def read_page(body: bytes, url: str, encoding: str, options: ReadOptions) -> PageReading:
    """Parse `body` once and read everything from it (the document with the page
    taken as indexable: the engine drops what a noindex page must not keep)."""
    return _read_parsed(parse_page(body, url, encoding, options.form), body, url, options)


def _read_parsed(page: ParsedPage, body: bytes, url: str, options: ReadOptions) -> PageReading:
    meta = robots_meta(page.tree)
    extracted = [(rule.type, extract_item(page.tree, rule))
                 for rule in rules_for(url, options.extract)]
    document = read_document(page.tree, url, text=options.text, markdown=options.markdown,
                             metadata=options.metadata, schema_items=options.schema_items)
    return PageReading(page.title, LinkColumns(page.links), meta, document, extracted,
                       content_hash(body))


# ---- the reader process ----


def _read_one(body: bytes, url: str, encoding: str, options: ReadOptions) -> Any:
    """A PageReading, or ("parse" | "internal", message, traceback) as the inline
    path would have failed: a parse error keeps the page, a reader's bug does not."""
    try:
        page = parse_page(body, url, encoding, options.form)
    except Exception as exc:
        return ("parse", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        return _read_parsed(page, body, url, options)
    except Exception as exc:
        return ("internal", f"{type(exc).__name__}: {exc}", traceback.format_exc())


def receive(stream: IO[bytes]) -> Any:
    """The next pickled message, or None at the end of the stream."""
    head = stream.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    return pickle.loads(stream.read(HEADER.unpack(head)[0]))


def frame(message: Any) -> bytes:
    """A message as it goes over the pipe: its length, then its pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def send(sink: IO[bytes], message: Any) -> None:
    """Write one framed message whole.

    A raw file (sys.stdout.buffer under PYTHONUNBUFFERED=1 or -u) writes once and
    returns the count: when a signal stops the process mid-write (Ctrl-Z, a
    profiler), that is part of the frame, and the rest must follow, or the other
    end reads the next frame as this one's tail.
    """
    data = memoryview(frame(message))
    while data:
        data = data[sink.write(data):]
    sink.flush()


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """Read pages from `source` and answer on `sink` until `source` ends."""
    options = receive(source)
    while (message := receive(source)) is not None:
        page_id, body, url, encoding = message
        send(sink, (page_id, _read_one(body, url, encoding, options)))


def main() -> None:
    """The reader process: `python -c "from crawler.html.reading import main; main()"`
    (not `-m`: what it pickles must name this module, not `__main__`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    widen_pipes(sys.stdin, sys.stdout)
    serve(sys.stdin.buffer, sys.stdout.buffer)


def widen_pipes(*files: IO[Any]) -> None:
    """Make the pipes behind `files` hold PIPE_SIZE bytes, where the system allows it
    (Linux, within /proc/sys/fs/pipe-max-size); elsewhere they stay as they are."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)  # None without fcntl, too
    if setpipe is None:
        return
    for file in files:
        with contextlib.suppress(OSError, ValueError):  # not a pipe, or over the limit
            fcntl.fcntl(file.fileno(), setpipe, PIPE_SIZE)
