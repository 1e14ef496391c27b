"""Statements that carry many rows: multi-row VALUES lists and JSON arrays for json_each."""

from __future__ import annotations

import json
import sqlite3

from hypothesis import given
from hypothesis import strategies as st

from crawler.store.statements import json_arrays, multirow_inserts

# A fragment is one page's link rows as the store holds them: JSON items, comma-joined.
rows = st.lists(st.tuples(st.integers(0, 9), st.text(max_size=30)), min_size=1, max_size=6)
fragments = st.lists(rows.map(lambda r: json.dumps(r)[1:-1]), max_size=40)


@given(fragments, st.integers(1, 400))
def test_json_arrays_keep_every_item_in_order_within_the_size(parts: list[str],
                                                              limit: int) -> None:
    arrays = list(json_arrays(parts, limit))
    items = [item for array in arrays for item in json.loads(array)]
    assert items == [item for part in parts for item in json.loads(f"[{part}]")]
    for array in arrays:  # over the limit only when one fragment alone is
        assert len(array) <= limit + 2 or array[1:-1] in parts
    assert all(array != "[]" for array in arrays)


def test_a_batch_of_fragments_becomes_arrays_sqlite_reads_as_rows() -> None:
    parts = [json.dumps([[page, f"http://a/{page}/{i}"] for i in range(50)])[1:-1]
             for page in range(400)]  # 400 pages of 50 links, ~500 KB
    arrays = list(json_arrays(parts, 64 * 1024))
    assert len(arrays) == sum(map(len, parts)) // (64 * 1024) + 1
    assert max(map(len, arrays)) <= 64 * 1024 + 2
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE links (page INTEGER, url TEXT)")
    for array in arrays:
        con.execute("INSERT INTO links SELECT value ->> 0, value ->> 1 FROM json_each(?)",
                    (array,))
    assert con.execute("SELECT count(*), count(DISTINCT url) FROM links").fetchone() == (
        20_000, 20_000)
    assert con.execute("SELECT page, url FROM links ORDER BY rowid LIMIT 1 OFFSET 19999"
                       ).fetchone() == (399, "http://a/399/49")


def test_multirow_inserts_take_every_row_once_in_power_of_two_statements() -> None:
    con = sqlite3.connect(":memory:")
    con.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    statements = list(multirow_inserts("INSERT INTO t VALUES ", [(i, str(i)) for i in range(37)]))
    assert [sql.count("(?, ?)") for sql, _ in statements] == [32, 4, 1]
    for sql, params in statements:
        con.execute(sql, params)
    assert con.execute("SELECT a FROM t ORDER BY rowid").fetchall() == [(i,) for i in range(37)]
