"""Proxies: which one a request goes through, and what to do when one fails.

`fetch.proxy` is one proxy or a list; `fetch.hosts` may give a host its own
list, or `direct`; `fetch.proxy_env` falls back on `HTTP_PROXY`,
`HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY`. With several proxies,
`proxy_rotation: request` takes the next one for each request (round robin)
and `host` keeps one per host until it fails.

A proxy that cannot be reached, refuses the tunnel or answers 407 is
*benched*: it is tried last for 10 s, doubling with each failure in a row up
to 5 minutes, and the request is tried again at once through the next one
(at most `MAX_TRIES` proxies per fetch). Each failure is reported to the
crawl (an `errors` row of kind `proxy`) and counted; `summary()` is what
`crawls.stats` keeps under `proxies`. A proxy is named without its
credentials everywhere it is written.
"""

from __future__ import annotations

import itertools
import time
import urllib.request
from dataclasses import dataclass

from yarl import URL

from crawler.config import FetchConfig, secrets

MAX_TRIES = 3  # proxies one fetch goes through before it fails
BENCH = 10.0  # seconds a failed proxy is tried last; doubles per failure in a row
MAX_BENCH = 300.0


@dataclass(slots=True, eq=False)
class Proxy:
    """One proxy and how it has been doing."""

    url: str  # with its credentials, for aiohttp
    name: str  # without them, for stats, errors and logs
    requests: int = 0
    failures: int = 0
    strikes: int = 0  # failures in a row
    benched_until: float = 0.0
    last_error: str | None = None

    def failed(self, error: str, now: float) -> None:
        self.failures += 1
        self.strikes += 1
        self.last_error = error
        self.benched_until = now + min(MAX_BENCH, BENCH * 2 ** (self.strikes - 1))

    def worked(self) -> None:
        self.strikes = 0
        self.benched_until = 0.0


class Proxies:
    """The proxies of one fetcher: the choice per request, benching, counters."""

    def __init__(self, config: FetchConfig) -> None:
        self._rotation = config.proxy_rotation
        self._by_url: dict[str, Proxy] = {}
        self._default = self._list(tuple(secrets.expand(url) for url in config.proxy))
        self._env = urllib.request.getproxies_environment() if config.proxy_env else {}
        self._turn: dict[tuple[str, ...], itertools.count[int]] = {}
        self._sticky: dict[tuple[str, tuple[str, ...]], Proxy] = {}

    def __bool__(self) -> bool:
        return bool(self._by_url or self._env)

    def route(self, url: URL, own: tuple[str, ...] | None) -> list[Proxy | None]:
        """The proxies to try for `url`, best first; `[None]` to go direct.

        `own` is the host's proxies from `fetch.hosts` (None: the crawl's).
        """
        pool = self._default if own is None else self._list(own)
        if not pool and own is None and self._env:
            pool = self._from_env(url)
        if not pool:
            return [None]
        return self._order(pool, url.host or "")[:MAX_TRIES]

    def failed(self, proxy: Proxy, error: str) -> None:
        proxy.failed(error, time.monotonic())

    def summary(self) -> dict[str, dict[str, int | str | None]]:
        """{proxy name: {requests, failures, last_error}}, for `crawls.stats`."""
        return {p.name: {"requests": p.requests, "failures": p.failures,
                         "last_error": p.last_error}
                for p in self._by_url.values() if p.requests or p.failures}

    # ---- choosing ----

    def _order(self, pool: tuple[Proxy, ...], host: str) -> list[Proxy]:
        """Healthy proxies in rotation order, then benched ones, soonest back first."""
        key = tuple(p.url for p in pool)
        if self._rotation == "host" and (kept := self._sticky.get((host, key))) is not None:
            start = pool.index(kept)
        else:
            start = next(self._turn.setdefault(key, itertools.count())) % len(pool)
        turned = pool[start:] + pool[:start]
        now = time.monotonic()
        healthy = [p for p in turned if p.benched_until <= now]
        benched = sorted((p for p in turned if p.benched_until > now),
                         key=lambda p: p.benched_until)
        ordered = healthy + benched
        if self._rotation == "host":
            self._sticky[(host, key)] = ordered[0]
        return ordered

    def _list(self, urls: tuple[str, ...]) -> tuple[Proxy, ...]:
        return tuple(self._proxy(url) for url in urls)

    def _proxy(self, url: str) -> Proxy:
        found = self._by_url.get(url)
        if found is None:
            found = self._by_url[url] = Proxy(url, secrets.plain_url(url))
        return found

    def _from_env(self, url: URL) -> tuple[Proxy, ...]:
        """HTTP(S)_PROXY / ALL_PROXY for the URL's scheme, unless NO_PROXY covers its host."""
        if urllib.request.proxy_bypass_environment(url.host or "", self._env):
            return ()
        chosen = self._env.get(url.scheme) or self._env.get("all")
        return (self._proxy(chosen),) if chosen else ()
