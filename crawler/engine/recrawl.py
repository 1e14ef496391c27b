"""Incremental recrawl: re-fetch a finished crawl's pages conditionally and tell what changed.

`seed` copies the pages of the previous crawl into the new crawl's frontier
in one INSERT ... SELECT (no Python objects per URL, however many there
are), each with `If-None-Match` / `If-Modified-Since` headers from the
validators its last response carried and the hash of its last body. A 304
answer is stored as `unchanged`; a full answer is `changed` or `unchanged`
by its content hash; a URL the previous crawl did not have is `new`.
"""

from __future__ import annotations

from crawler.html.reading import content_hash  # noqa: F401  (one definition, used by rows)
from crawler.store.sqlite import Store
from crawler.urls import Canonicalizer

# The previous crawl's finished requests, with what their newest page row said.
_SEED = """
INSERT OR IGNORE INTO frontier (crawl_id, url, host, priority, depth, referrer, request,
                                unique_url)
SELECT :new, f.url, f.host, f.priority, f.depth, f.referrer,
       json_patch(coalesce(f.request, '{}'), json_object(
           'headers', json_object('If-None-Match', p.headers ->> '$.etag',
                                  'If-Modified-Since', p.headers ->> '$."last-modified"'),
           'last_hash', p.content_hash)),
       f.unique_url
FROM frontier AS f
JOIN pages AS p ON p.id = (SELECT max(id) FROM pages
                           WHERE pages.crawl_id = f.crawl_id AND pages.url = f.url)
WHERE f.crawl_id = :previous AND f.state = 'done'
"""


async def seed(store: Store, crawl_id: int, previous: int,
               form: Canonicalizer | None = None) -> int:
    """Queue every page crawl `previous` stored; returns how many were queued.

    With `form` (the new crawl's, when the previous crawl's was another) each URL
    is put in it; URLs that become one are queued once (INSERT OR IGNORE).
    """
    sql = _SEED
    async with store.transaction() as db:
        if form is not None:
            await db.create_function("crawler_url_form", 1, form.apply, deterministic=True)
            sql = _SEED.replace("SELECT :new, f.url,", "SELECT :new, crawler_url_form(f.url),")
        cursor = await db.execute(sql, {"new": crawl_id, "previous": previous})
        return cursor.rowcount


def change(status: int, body_hash: str, last_hash: str | None) -> str:
    """new | changed | unchanged, for a page of a recrawl."""
    if status == 304:
        return "unchanged"
    if last_hash is None:
        return "new"
    return "unchanged" if body_hash == last_hash else "changed"
