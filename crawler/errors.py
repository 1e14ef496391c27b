"""One exception tree for the whole package.

    CrawlerError                 base of everything we raise on purpose
    ├── ConfigError              a bad config file, flag or setting (user error: no traceback)
    │   └── ConfigErrors         several of them, found in one reading, in file order
    ├── SpiderLoadError          `crawler run x.py` could not find or import a Spider
    ├── SitemapError             a sitemap malformed or over a cap (errors.kind "sitemap")
    ├── BrowserError             rendering was asked for and no browser can be started
    ├── OutputError              the output file cannot be used: unwritable, not a database (exit 2)
    │   └── OutputLocked         another process is writing it
    ├── StorageError             writing the output failed during a crawl: disk full, I/O (exit 1)
    └── FetchError               one request failed; `kind` says how (stored in errors.kind)
        ├── RedirectError        a redirect that is not followed: a loop, too many hops, no Location
        └── InvalidURLError      a URL that cannot be requested
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base class for every error the crawler raises on purpose."""


class ConfigError(CrawlerError):
    """A configuration mistake, reported as `source:line: key: what is wrong`."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None,
                 key: str | None = None) -> None:
        self.source, self.line, self.key, self.detail = source, line, key, message
        where = source or "<config>"
        if line is not None:
            where = f"{where}:{line}"
        text = f"{key}: {message}" if key else message
        super().__init__(f"{where}: {text}")


class ConfigErrors(ConfigError):
    """Every mistake found in one reading of a config; `errors` in file order, one a line.

    Its own source, line, key and detail are the first mistake's, so code that
    looks at one error still sees the first.
    """

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = sorted(errors, key=lambda e: e.line or 0)
        first = self.errors[0]
        super().__init__(first.detail, source=first.source, line=first.line, key=first.key)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return self.args[0]


class SpiderLoadError(CrawlerError):
    """A spider file or class that cannot be loaded."""


class SitemapError(CrawlerError):
    """A sitemap that is malformed, not a sitemap, or over one of its caps."""


class BrowserError(CrawlerError):
    """Rendering needs a browser (or Playwright) that is not there: says what to install."""
class OutputError(CrawlerError):
    """The output file cannot be opened for writing; the message says why and what to do."""


class OutputLocked(OutputError):
    """Another process holds the output file's writer lock."""


class StorageError(CrawlerError):
    """Writing to the output failed (disk full, an I/O error, the file gone or read-only).

    `reason` says what happened, `fix` what to do about it. Raised by the store; the
    crawl stops at the first one and `Crawler.run` raises one at its end
    whose message says how many fetched pages were not stored.
    """

    def __init__(self, message: str, *, reason: str = "", fix: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
        self.fix = fix  # what to do next: "free space and run the same command to resume"


class FetchError(CrawlerError):
    """A request that did not produce a response; `kind` is the errors.kind value."""

    kind = "connection"

    def __init__(self, message: str, *, kind: str | None = None) -> None:
        super().__init__(message)
        if kind is not None:
            self.kind = kind


class RedirectError(FetchError):
    kind = "redirect"


class InvalidURLError(FetchError):
    kind = "invalid_url"
