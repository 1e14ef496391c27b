"""What each host is sent: `fetch.hosts` rules turned into headers (auth included) and proxies.

A rule applies to the hosts its pattern matches and to no other, so a token
for `api.example.com` never reaches a page it links to elsewhere; redirects
are requests like any other, so a hop to another host gets that host's
headers, not these. Secrets named as `${NAME}` are read from the environment
once, when the fetcher opens.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field

from crawler.config import FetchConfig, secrets
from crawler.config.rules import FetchHostRule

CACHE = 16_384  # hosts remembered; a crawl over more simply looks them up again


@dataclass(frozen=True, slots=True)
class HostSettings:
    """Headers (expanded, auth included) and proxies for one host."""

    headers: Mapping[str, str] = field(default_factory=dict)
    proxies: tuple[str, ...] | None = None  # None: the crawl's own; (): go direct


NOTHING = HostSettings()


class HostRules:
    """`fetch.hosts`, looked up by host name (first match wins) and remembered."""

    def __init__(self, config: FetchConfig) -> None:
        self._rules = [(rule, _settings(rule)) for rule in config.hosts]
        self._seen: dict[str, HostSettings] = {}

    def __bool__(self) -> bool:
        return bool(self._rules)

    def for_host(self, host: str) -> HostSettings:
        """The settings of the first rule matching `host` (a host name, no port)."""
        if not self._rules:
            return NOTHING
        found = self._seen.get(host)
        if found is None:
            found = next((s for rule, s in self._rules if rule.matches(host)), NOTHING)
            if len(self._seen) >= CACHE:
                self._seen.clear()
            self._seen[host] = found
        return found


def _settings(rule: FetchHostRule) -> HostSettings:
    headers = {name: secrets.expand(value) for name, value in rule.headers}
    if rule.basic is not None:
        user, password = rule.basic
        token = base64.b64encode(f"{user}:{secrets.expand(password)}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"  # RFC 7617, UTF-8
    elif rule.bearer is not None:
        headers["Authorization"] = f"Bearer {secrets.expand(rule.bearer)}"
    proxies = None if rule.proxy is None else tuple(secrets.expand(u) for u in rule.proxy)
    return HostSettings(headers, proxies)
