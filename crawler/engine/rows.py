"""The `pages` row of a response: what is kept of it, and how it relates to the last crawl."""

from __future__ import annotations

from functools import lru_cache

from crawler.config import StoreConfig, secrets
from crawler.engine import recrawl, redirects
from crawler.html.document import Document
from crawler.models import Response
from crawler.store.records import PageRecord, headers_json, iso_time


def page_row(response: Response, fetched_at: float, store: StoreConfig, *,
             doc: Document | None = None, body: bytes | None = None,
             noindex: bool = False, recrawling: bool = False,
             body_hash: str | None = None) -> PageRecord:
    """The page row; a noindex page keeps no title or body (nor text: see the pipeline).
    `body_hash`: the body's content hash when a reader process took it already."""
    page, request = response.parsed_page, response.request
    doc = doc or Document()
    links = page.links if page and store.links else ()
    body_hash, change = _version(response, recrawling, body_hash)
    return PageRecord(
        url=request.url, final_url=response.url, status=response.status,
        depth=request.depth, headers=headers_json(response.headers.items()),
        size=len(response.body), fetched_at=iso_time(fetched_at),
        content_type=response.content_type,
        encoding=response.encoding if page else None,
        title=page.title if page and not noindex else None, text=doc.text,
        markdown=doc.markdown, metadata=doc.metadata, simhash=doc.simhash,
        referrer=request.referrer,
        elapsed_ms=round(response.elapsed * 1000, 2),
        request_headers=_sent_json(tuple((response.request_headers or {}).items())),
        body=body, links=links, redirects=redirects.to_json(request.redirects),
        content_hash=body_hash, change=change, fetched_by=response.fetched_by,
        screenshot=response.screenshot,
    )


@lru_cache(maxsize=256)
def _sent_json(headers: tuple[tuple[str, str], ...]) -> str:
    """`pages.request_headers`: a crawl sends the same headers to a host on every
    request, so each set is redacted and encoded once (7 us a page, now 0.6)."""
    return headers_json((name, secrets.redact_sent(name, value)) for name, value in headers)


def _version(response: Response, recrawling: bool,
             known: str | None) -> tuple[str | None, str | None]:
    """(content_hash, and in a recrawl whether the page changed since the last crawl)."""
    last = response.request.last_hash
    if response.status == 304:
        body_hash = last
    else:  # no hash for a body that was not read (a 3xx hop, metadata only, too large)
        body_hash = known or (recrawl.content_hash(response.body) if response.body else None)
    change = None
    if recrawling and (body_hash is not None or response.status == 304):
        change = recrawl.change(response.status, body_hash or "", last)
    return body_hash, change
