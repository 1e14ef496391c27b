"""The `cookies` table: a crawl's cookie jar, saved with the pages that changed it.

`CookieRows` is a part of the store's batch (`Store.add_part`): at each flush
it asks the jar for its rows, which the jar gives only when a response
changed it, and replaces the crawl's rows inside the batch's transaction. So
the jar on disk is the one that went with the stored pages, and a resumed
crawl (`load`) continues the same session.
"""

from __future__ import annotations

import calendar
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from crawler.store.sqlite import Store

# (domain, path, name, value, expires epoch or None, secure, http_only, host_only), as
# crawler.fetch.cookies.Jar hands them over and takes them back.
CookieRow = tuple[str, str, str, str, float | None, bool, bool, bool]

_DELETE = "DELETE FROM cookies WHERE crawl_id = ?"
_INSERT = (
    "INSERT OR REPLACE INTO cookies (crawl_id, domain, path, name, value, expires, secure, "
    "http_only, host_only) SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, "
    "value ->> 4, value ->> 5, value ->> 6, value ->> 7 FROM json_each(?)"
)
_SELECT = ("SELECT domain, path, name, value, expires, secure, http_only, host_only "
           "FROM cookies WHERE crawl_id = ?")


class CookieRows:
    """Saves the jar's rows (when it changed) with each batch of the store."""

    def __init__(self, store: Store, crawl_id: int,
                 rows: Callable[[], Sequence[CookieRow] | None]) -> None:
        self._store = store
        self._crawl_id = crawl_id
        self._rows = rows
        store.add_part(self)

    def take(self) -> Sequence[CookieRow] | None:
        return self._rows()

    def writes(self, rows: Sequence[CookieRow]) -> list[Awaitable[Any]]:
        return [self._write(rows)]

    async def committed(self, rows: Sequence[CookieRow], results: list[Any]) -> None:
        return None

    async def _write(self, rows: Sequence[CookieRow]) -> None:
        data = json.dumps([(domain, path, name, value, expires_at(expires), int(secure),
                            int(http_only), int(host_only))
                           for domain, path, name, value, expires, secure, http_only, host_only
                           in rows], ensure_ascii=False)
        async with self._store.transaction() as db:
            await db.execute(_DELETE, (self._crawl_id,))
            await db.execute(_INSERT, (self._crawl_id, data))


async def load(store: Store, crawl_id: int) -> list[CookieRow]:
    """The jar a crawl saved (none for a new crawl)."""
    async with store.db.execute(_SELECT, (crawl_id,)) as cursor:
        found = await cursor.fetchall()
    return [(domain, path, name, value, expiry_of(expires), bool(secure), bool(http_only),
             bool(host_only))
            for domain, path, name, value, expires, secure, http_only, host_only in found]


def expires_at(epoch: float | None) -> str | None:
    """A cookie's expiry as stored: ISO 8601 UTC, None for a session cookie."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(min(epoch, 253402300799)))


def expiry_of(text: str | None) -> float | None:
    if text is None:
        return None
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ")))
