"""Redirects, followed by the crawler one hop at a time (RFC 9110 §15.4).

aiohttp does not follow redirects for the engine. A 3xx with a Location is a
page row of its own, and its target becomes a new Request that goes through
the scheduler like any link, so each hop passes scope, dedupe, the trap
guards, robots.txt and the host's politeness. The new request continues the
old one: same depth (a redirect is not a link step), referrer, callback, meta
and priority, and it carries the chain so far as plain (status, URL) data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from crawler import urls
from crawler.errors import RedirectError
from crawler.models import Request, Response

# 300 and 304 are not redirects to follow: a choice to make, and a cache hit.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Not sent on to another origin (as browsers and aiohttp do).
_CREDENTIALS = frozenset({"authorization", "cookie", "proxy-authorization"})

Chain = tuple[tuple[int, str], ...]


def is_redirect(status: int) -> bool:
    return status in REDIRECT_STATUSES


def next_hop(request: Request, response: Response, max_redirects: int) -> Request:
    """The request for the redirect's target; RedirectError when it must not be followed.

    Not followed: no usable Location, a target already in the chain (a loop),
    or a chain longer than `max_redirects` hops.
    """
    chain = (*request.redirects, (response.status, request.url))
    location, target = _target(request, response)
    if any(url == target for _, url in chain):
        raise RedirectError("redirect loop: " + describe(chain, target))
    if len(chain) > max_redirects:
        raise RedirectError(f"more than {max_redirects} redirects: " + describe(chain, target))
    # 307 and 308 repeat the request as it was; the others are a GET (as browsers do).
    keep = response.status in (307, 308)
    return Request(target, callback=request.callback, meta=dict(request.meta),
                   headers=_carried_headers(request, target, body=keep),
                   priority=request.priority, depth=request.depth, referrer=request.referrer,
                   href=location, dont_filter=request.dont_filter, redirects=chain,
                   method=request.method if keep else "GET",
                   body=request.body if keep else None)


def describe(chain: Chain, target: str) -> str:
    """"http://a/x (301) -> http://a/y (302) -> http://a/z" for the errors row."""
    return " -> ".join([*(f"{url} ({status})" for status, url in chain), target])


def to_json(chain: Chain) -> str | None:
    """The chain as stored in pages.redirects: [[301, "http://a/x"], ...], NULL when empty."""
    return json.dumps([list(hop) for hop in chain]) if chain else None


def origin(request: Request) -> str:
    """The URL the chain began at: what a page linked to, so the errors row names it."""
    return request.redirects[0][1] if request.redirects else request.url


def _target(request: Request, response: Response) -> tuple[str, str]:
    """(Location as sent, canonical absolute target), resolved against the request's URL."""
    location = (response.headers.get("Location") or "").strip()
    if not location:
        raise RedirectError(f"HTTP {response.status} without a Location")
    try:
        return location, urls.join(request.url, location)
    except urls.Rejected as exc:
        raise RedirectError(f"HTTP {response.status} to an unusable Location "
                            f"{location[:200]!r} ({exc.reason})") from None


def _carried_headers(request: Request, target: str, *, body: bool) -> Mapping[str, str] | None:
    """The headers the hop sends: no credentials to another origin, and no body's
    Content-Type once the body is dropped."""
    headers = request.headers
    same_origin = urls.host_key(target) == urls.host_key(request.url)
    if not headers or (same_origin and (body or request.body is None)):
        return headers
    dropped = set() if same_origin else set(_CREDENTIALS)
    if not body:
        dropped.add("content-type")
    return {name: value for name, value in headers.items() if name.lower() not in dropped}
