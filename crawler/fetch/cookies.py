"""The crawl's cookie jar (`fetch.cookies: true`): aiohttp's, kept with the crawl.

aiohttp's `CookieJar` applies RFC 6265: a cookie goes back only to the host
(or domain) and path it was set for, `Secure` ones only over https, expired
ones never, and it caps what one domain and the whole jar hold. The jar here
accepts cookies from IP-address hosts too (`unsafe=True`: RFC 6265 allows
host-only cookies for them), and notes when a response changed it, so the
crawl saves it (`rows()`, the `cookies` table) only then, in the batch
transaction of the pages that set it: a resumed crawl keeps its session.
Redirects are requests like any other, so the jar decides each hop's cookies
by that hop's host.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from email.utils import formatdate
from http.cookies import Morsel, SimpleCookie
from typing import Any

import aiohttp
from yarl import URL

from crawler.config import secrets

_NOWHERE = URL()

# One row of the `cookies` table (without the crawl id):
# (domain, path, name, value, expires epoch or None, secure, http_only, host_only)
CookieRow = tuple[str, str, str, str, float | None, bool, bool, bool]


class Jar(aiohttp.CookieJar):
    """aiohttp's jar, noting whether it changed since the last `rows()`."""

    def __init__(self) -> None:
        super().__init__(unsafe=True)
        self.changed = False

    def update_cookies(self, cookies: Any, response_url: URL = _NOWHERE) -> None:
        super().update_cookies(cookies, response_url)
        self.changed = True

    def update_cookies_from_headers(self, headers: Sequence[str], response_url: URL) -> None:
        super().update_cookies_from_headers(headers, response_url)
        if headers:
            self.changed = True

    def rows(self) -> list[CookieRow] | None:
        """Every cookie the jar holds, when it changed since the last call; else None."""
        if not self.changed:
            return None
        self.changed = False
        expirations: dict[Any, float] = getattr(self, "_expirations", {})
        host_only = self.host_only_cookies
        rows = []
        for (domain, path), cookies in self.cookies.items():
            for name, morsel in cookies.items():
                key = (domain, path, name)
                rows.append((domain, morsel["path"] or path or "/", name, morsel.value,
                             expirations.get(key),
                             bool(morsel["secure"]), bool(morsel["httponly"]),
                             key in host_only))
        return rows

    def restore(self, rows: Iterable[CookieRow]) -> None:
        """Put saved cookies back (expired ones are left out by the jar itself)."""
        for domain, path, name, value, expires, secure, http_only, host_only in rows:
            morsel: Morsel[str] = Morsel()
            morsel.set(name, *SimpleCookie().value_encode(value))
            morsel["path"] = path
            morsel["domain"] = "" if host_only else domain
            if expires is not None:
                morsel["expires"] = formatdate(expires, usegmt=True)
            morsel["secure"] = secure
            morsel["httponly"] = http_only
            super().update_cookies({name: morsel}, URL.build(scheme="https", host=domain,
                                                             path=path or "/"))
        self.changed = False

    def preset(self, cookies: Iterable[tuple[str, str, str]]) -> None:
        """`fetch.preset_cookies`: (domain, name, value), sent to the domain and below."""
        for domain, name, value in cookies:
            morsel: Morsel[str] = Morsel()
            morsel.set(name, *SimpleCookie().value_encode(secrets.expand(value)))
            morsel["domain"] = domain
            morsel["path"] = "/"
            self.update_cookies({name: morsel}, URL.build(scheme="http", host=domain))
