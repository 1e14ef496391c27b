"""The schema of the crawl file, a public interface, and bringing older files up to it.

People write SQL against these tables (README "The database"), so they are
named for them and change only with a migration: `PRAGMA user_version`
holds the schema version, and opening an older file adds what it lacks.
"""

from __future__ import annotations

import aiosqlite

# 2: frontier, sitemap_urls, crawls.runs/recrawl_of, pages.content_hash/change
# 3: pages.redirects
# 4: pages.fetched_by, screenshots
# 5: cookies
# 6: pages.metadata, pages.simhash
# 7: crawls.url_form (NULL in a crawl begun before: query parameters as written)
SCHEMA_VERSION = 7

SCHEMA = """
CREATE TABLE IF NOT EXISTS crawls (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,           -- running | finished | interrupted | failed
    config      TEXT NOT NULL,           -- JSON: the configuration used
    stats       TEXT,                    -- JSON: final counters (of the last run)
    runs        INTEGER NOT NULL DEFAULT 1,  -- 1 + times it was resumed
    recrawl_of  INTEGER,                 -- the crawl whose pages it re-fetched (--recrawl)
    url_form    TEXT                     -- JSON {sort_query, drop_params}: its canonical URLs;
                                         -- NULL: begun before schema 7 (query as written)
);
CREATE TABLE IF NOT EXISTS pages (
    id              INTEGER PRIMARY KEY,
    crawl_id        INTEGER NOT NULL REFERENCES crawls(id),
    url             TEXT NOT NULL,       -- canonical URL requested
    final_url       TEXT NOT NULL,       -- the URL that answered (redirects are rows of their own)
    status          INTEGER NOT NULL,
    content_type    TEXT,                -- media type only, lower case
    encoding        TEXT,
    size            INTEGER NOT NULL,    -- body bytes read (after content decoding)
    title           TEXT,
    text            TEXT,                -- visible text
    markdown        TEXT,                -- main content as Markdown (store.markdown)
    depth           INTEGER NOT NULL,
    referrer        TEXT,                -- canonical URL of the page that linked here
    fetched_at      TEXT NOT NULL,
    elapsed_ms      REAL,
    headers         TEXT NOT NULL,       -- JSON object, lower-case names
    request_headers TEXT,                -- JSON object, what was sent
    body            BLOB,                -- NULL when store.body is false or it was not kept
    content_hash    TEXT,                -- SHA-256 of the body, first 128 bits, hex
    change          TEXT,                -- recrawls: new | changed | unchanged
    redirects       TEXT,                -- JSON [[status, url], ...]: the hops that led here
    fetched_by      TEXT NOT NULL DEFAULT 'http', -- http | browser (the body is the rendered DOM)
    metadata        TEXT,                -- JSON: title, description, author, dates, language...
    simhash         INTEGER              -- SimHash of the main content's text (signed 64-bit)
);
CREATE INDEX IF NOT EXISTS pages_url ON pages(url);
CREATE INDEX IF NOT EXISTS pages_crawl_status ON pages(crawl_id, status);
CREATE TABLE IF NOT EXISTS links (
    page_id INTEGER NOT NULL REFERENCES pages(id),
    url     TEXT,                        -- canonical target; NULL if not a valid http(s) URL
    href    TEXT NOT NULL,               -- as written in the page
    text    TEXT                         -- anchor text
);
CREATE INDEX IF NOT EXISTS links_page ON links(page_id);
CREATE INDEX IF NOT EXISTS links_url ON links(url);
CREATE TABLE IF NOT EXISTS items (
    id         INTEGER PRIMARY KEY,
    crawl_id   INTEGER NOT NULL REFERENCES crawls(id),
    page_id    INTEGER REFERENCES pages(id),
    url        TEXT,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,            -- JSON object
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_crawl_type ON items(crawl_id, type);
CREATE TABLE IF NOT EXISTS errors (
    id        INTEGER PRIMARY KEY,
    crawl_id  INTEGER NOT NULL REFERENCES crawls(id),
    url       TEXT NOT NULL,
    kind      TEXT NOT NULL,             -- http, connection, timeout, too_large, redirect,
                                         -- invalid_url, parse, callback, robots, sitemap,
                                         -- internal, hook, sink, browser
    message   TEXT NOT NULL,
    status    INTEGER,
    tries     INTEGER NOT NULL DEFAULT 1,
    traceback TEXT,
    depth     INTEGER,
    referrer  TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS errors_crawl_kind ON errors(crawl_id, kind);
CREATE TABLE IF NOT EXISTS frontier (
    id         INTEGER PRIMARY KEY,
    crawl_id   INTEGER NOT NULL REFERENCES crawls(id),
    url        TEXT NOT NULL,            -- canonical URL
    host       TEXT NOT NULL,            -- scheme://host:port, the unit of politeness
    state      TEXT NOT NULL DEFAULT 'queued',  -- queued | leased | done | failed | dropped
    priority   INTEGER NOT NULL DEFAULT 0,
    depth      INTEGER NOT NULL DEFAULT 0,
    referrer   TEXT,
    request    TEXT,                     -- JSON: callback, meta, headers ...; NULL for a link
    unique_url INTEGER NOT NULL DEFAULT 1  -- 0: dont_filter, exempt from deduplication
);
-- The seen-set: one row per canonical URL per crawl.
CREATE UNIQUE INDEX IF NOT EXISTS frontier_seen ON frontier(crawl_id, url) WHERE unique_url;
CREATE INDEX IF NOT EXISTS frontier_queue
    ON frontier(crawl_id, host, priority DESC, id) WHERE state = 'queued';
CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(
    title, text, content='pages', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS pages_fts_delete AFTER DELETE ON pages BEGIN
    INSERT INTO pages_fts(pages_fts, rowid, title, text)
    VALUES ('delete', old.id, old.title, old.text);
END;
CREATE TRIGGER IF NOT EXISTS pages_fts_update AFTER UPDATE OF title, text ON pages BEGIN
    INSERT INTO pages_fts(pages_fts, rowid, title, text)
    VALUES ('delete', old.id, old.title, old.text);
    INSERT INTO pages_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
END;
CREATE TABLE IF NOT EXISTS sitemap_urls (
    crawl_id INTEGER NOT NULL REFERENCES crawls(id),
    url      TEXT NOT NULL,              -- canonical, as in pages.url (as written if invalid)
    lastmod  TEXT,                       -- <lastmod>: ISO 8601 UTC; a date stays a date
    sitemap  TEXT NOT NULL               -- the sitemap that listed it
);
CREATE INDEX IF NOT EXISTS sitemap_urls_url ON sitemap_urls(url);
CREATE TABLE IF NOT EXISTS screenshots (
    page_id   INTEGER PRIMARY KEY REFERENCES pages(id),
    crawl_id  INTEGER NOT NULL REFERENCES crawls(id),
    full_page INTEGER NOT NULL,          -- 1: the whole page; 0: the viewport
    png       BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS cookies (     -- the cookie jar of a crawl (fetch.cookies: true)
    crawl_id  INTEGER NOT NULL REFERENCES crawls(id),
    domain    TEXT NOT NULL,             -- the host it was set by, or the domain it is sent to
    path      TEXT NOT NULL,
    name      TEXT NOT NULL,
    value     TEXT NOT NULL,
    expires   TEXT,                      -- ISO 8601 UTC; NULL: a session cookie
    secure    INTEGER NOT NULL,
    http_only INTEGER NOT NULL,
    host_only INTEGER NOT NULL,          -- 1: sent to exactly `domain`; 0: and its subdomains
    PRIMARY KEY (crawl_id, domain, path, name)
);
"""

# The search index's settings, kept in the file (FTS5's own config table):
# - merge segments when 8 of a level exist, not 4: 24% less indexing CPU
#   during the crawl (measured), a few more segments for a query to read;
# - hold 4 MiB of new terms in memory before writing them out as a segment,
#   not 1 MiB: a 400-page batch of ~18 KB texts was ~8 segments, each merged
#   again later. 0.24 against 0.30 CPU-ms a page on the benchmark crawl's
#   texts (benchmarks/fts_cost.py); 2 MiB saved half that, 8 MiB no more.
#   FTS5 writes what it holds at every commit anyway (the batch).
FTS_SETTINGS = (
    "INSERT INTO pages_fts(pages_fts, rank) VALUES ('automerge', 8)",
    "INSERT INTO pages_fts(pages_fts, rank) VALUES ('hashsize', 4194304)",
)

# Columns added since schema version 1, added to older files when they are opened.
_ADDED_COLUMNS = (
    ("crawls", "runs", "INTEGER NOT NULL DEFAULT 1"),
    ("crawls", "recrawl_of", "INTEGER"),
    ("crawls", "url_form", "TEXT"),
    ("pages", "content_hash", "TEXT"),
    ("pages", "change", "TEXT"),
    ("pages", "redirects", "TEXT"),
    ("pages", "fetched_by", "TEXT NOT NULL DEFAULT 'http'"),
    ("pages", "metadata", "TEXT"),
    ("pages", "simhash", "INTEGER"),
)



async def migrate(db: aiosqlite.Connection) -> None:
    """Create the schema, or bring an older file up to it (not committed here)."""
    await _add_columns(db)
    await db.executescript(SCHEMA)
    for setting in FTS_SETTINGS:
        await db.execute(setting)
    await db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")


async def _add_columns(db: aiosqlite.Connection) -> None:
    """Add the columns an older file lacks (tables it lacks come from SCHEMA)."""
    for table, column, declaration in _ADDED_COLUMNS:
        async with db.execute(f"PRAGMA table_info({table})") as cur:
            columns = {row[1] for row in await cur.fetchall()}
        if columns and column not in columns:
            await db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
