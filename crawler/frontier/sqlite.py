"""The durable frontier: URLs to fetch and the seen-set in the crawl's own SQLite file.

Every accepted URL is a row of the `frontier` table; the unique index on
(crawl_id, url) is the seen-set, so `add` is `INSERT OR IGNORE` over JSON
arrays of the batch's rows, and their rowcounts say how many were new. Leasing
flips a host's next queued rows to `leased` with `UPDATE ... RETURNING`,
served by a partial index on queued rows. `shares_store` is True: the
engine adds and settles inside the transaction that stores the pages, so a
page, the URLs its links produced and its own `done` mark commit together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from crawler.frontier.base import State
from crawler.frontier.codec import RequestCodec
from crawler.models import Request
from crawler.store.sqlite import Store, gather_all

_INSERT = (
    "INSERT OR IGNORE INTO frontier (crawl_id, url, host, priority, depth, referrer, request, "
    "unique_url) SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, "
    "value ->> 5, value ->> 6 FROM json_each(?)"
)
# Rows per INSERT: ~300 KB of JSON, which SQLite parses whole before the first
# row (see store.statements.JSON_CHUNK_CHARS); a long crawl's batch adds ~20,000.
ADD_ROWS = 2048
_SET_STATE = "UPDATE frontier SET state = ? WHERE id IN (SELECT value FROM json_each(?))"
_UNLEASE = "UPDATE frontier SET state = 'queued' WHERE crawl_id = ? AND state = 'leased'"
_LEASE = (
    "UPDATE frontier SET state = 'leased' WHERE id IN ("
    " SELECT id FROM frontier WHERE crawl_id = ? AND host = ? AND state = 'queued'"
    " ORDER BY priority DESC, id LIMIT ?) "
    "RETURNING id, url, priority, depth, referrer, request"
)
_HOSTS = ("SELECT host, count(*) FROM frontier WHERE crawl_id = ? AND state = 'queued' "
          "GROUP BY host")


class SqliteFrontier:
    """A `Frontier` on the `frontier` table of the crawl database."""

    shares_store = True

    def __init__(self, store: Store, crawl_id: int, codec: RequestCodec | None = None) -> None:
        self._store = store
        self._crawl_id = crawl_id
        self._codec = codec or RequestCodec()

    async def add(self, entries: Sequence[tuple[str, Request]]) -> int:
        arrays = [self._json(entries[start:start + ADD_ROWS])
                  for start in range(0, len(entries), ADD_ROWS)]
        async with self._store.transaction() as db:
            # Queued together, so the writer thread runs them back to back.
            cursors = await gather_all(*(db.execute(_INSERT, (self._crawl_id, array))
                                         for array in arrays))
            return sum(cursor.rowcount for cursor in cursors)

    def _json(self, entries: Sequence[tuple[str, Request]]) -> str:
        """`entries` as the JSON array `_INSERT` reads (the rows as tuples only meanwhile)."""
        encode = self._codec.encode
        return json.dumps([(request.url, host, request.priority, request.depth,
                            request.referrer, encode(request), 0 if request.dont_filter else 1)
                           for host, request in entries], ensure_ascii=False)

    async def lease(self, host: str, limit: int) -> list[Request]:
        async with self._store.transaction() as db, db.execute(
                _LEASE, (self._crawl_id, host, limit)) as cursor:
            rows = await cursor.fetchall()
        rows.sort(key=lambda row: (-row[2], row[0]))  # RETURNING keeps no order
        decode = self._codec.decode
        return [decode(url, priority, depth, referrer, extra, frontier_id)
                for frontier_id, url, priority, depth, referrer, extra in rows]

    async def settle(self, settled: Sequence[tuple[Request, State]]) -> None:
        ids: dict[State, list[int]] = {}
        for request, state in settled:
            if request.frontier_id is not None:
                ids.setdefault(state, []).append(request.frontier_id)
        if not ids:
            return
        async with self._store.transaction() as db:
            for state, chosen in ids.items():
                await db.execute(_SET_STATE, (state, json.dumps(chosen)))

    async def hosts(self) -> Mapping[str, int]:
        async with self._store.db.execute(_HOSTS, (self._crawl_id,)) as cursor:
            return {host: count for host, count in await cursor.fetchall()}

    async def recover(self) -> int:
        """Leases of a run that died go back to `queued`: a resumed crawl fetches them again."""
        return await self._unlease()

    async def close(self) -> None:
        await self._unlease()

    async def _unlease(self) -> int:
        async with self._store.transaction() as db:
            cursor = await db.execute(_UNLEASE, (self._crawl_id,))
            return cursor.rowcount
