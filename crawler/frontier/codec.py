"""Requests as stored data: what a durable or shared frontier writes, and reads back.

A frontier row has columns for what every request has (URL, host, priority,
depth, referrer) and one JSON object for the rest (callback by method name,
meta, headers, tries, ...), None for a plain link, which is nearly all of
them. A callback that is not a method of the spider, or meta that is not
JSON, cannot be written: such a request is kept in this process under a key
(with a warning) and does not survive a restart, as in Scrapy's JOBDIR. A
request with a body (a login form) or a credential header (Authorization,
Cookie, X-Api-Key, ...) is kept the same way, on purpose: the file never
holds a password.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import operator
from collections.abc import Callable
from typing import Any

from crawler.config import secrets
from crawler.models import Request

log = logging.getLogger(__name__)

COLUMNS = ("url", "callback", "depth", "priority", "referrer", "href", "frontier_id")

_DEFAULTS = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
             for f in dataclasses.fields(Request) if f.name not in COLUMNS}
# A plain link (every other field at its default) is told in one C call and one
# tuple comparison: the field-by-field loop was 6% of the loop's samples on the
# long crawl, whose pages each add 50 new links.
_OTHER_FIELDS = operator.attrgetter(*_DEFAULTS)
_DEFAULT_VALUES = tuple(_DEFAULTS.values())


class RequestCodec:
    """Turns requests into (columns, JSON) and back, naming callbacks by spider method."""

    def __init__(self, *, resolve_callback: Callable[[str], Any] | None = None,
                 name_callback: Callable[[Any], str | None] | None = None) -> None:
        self._resolve = resolve_callback or (lambda name: None)
        self._name = name_callback or (lambda callback: None)
        self._live: dict[int, Request] = {}  # requests whose callback/meta cannot be stored
        self._live_keys = iter(range(1, 1 << 62))

    @classmethod
    def for_spider(cls, spider: Any) -> RequestCodec:
        """A codec storing callbacks by the name of `spider`'s method (None for others)."""
        def name(callback: Any) -> str | None:
            return callback.__name__ if getattr(callback, "__self__", None) is spider else None
        return cls(resolve_callback=lambda method: getattr(spider, method, None),
                   name_callback=name)

    def encode(self, request: Request) -> str | None:
        """What a plain link lacks, as JSON; None for a plain link."""
        if request.callback is None and _OTHER_FIELDS(request) == _DEFAULT_VALUES:
            return None
        extra = _extra_fields(request)
        if request.body is not None or _credentials(request):
            # A form may hold a password, a header a token: never written down.
            return self._keep_live(request, extra, warn=False)
        if request.callback is not None:
            name = self._name(request.callback)
            if name is None:
                return self._keep_live(request, extra)
            extra["callback"] = name
        if not extra:
            return None
        try:
            return json.dumps(extra, ensure_ascii=False)
        except (TypeError, ValueError):
            return self._keep_live(request, extra)

    def decode(self, url: str, priority: int, depth: int, referrer: str | None,
               extra_json: str | None, frontier_id: int | None = None) -> Request:
        """The request a row describes."""
        if extra_json is None:
            return Request(url, priority=priority, depth=depth, referrer=referrer,
                           frontier_id=frontier_id)
        extra = json.loads(extra_json)
        live = self._live.pop(extra.pop("live", 0), None)
        callback = self._resolve(extra.pop("callback")) if "callback" in extra else None
        request = Request(url, priority=priority, depth=depth, referrer=referrer,
                          frontier_id=frontier_id, callback=callback)
        for name, value in extra.items():
            setattr(request, name, _as_tuples(value))
        if live is not None:
            request.callback, request.meta, request.body = live.callback, live.meta, live.body
            request.headers = live.headers
        return request

    def _keep_live(self, request: Request, extra: dict[str, Any], *, warn: bool = True) -> str:
        """A request that cannot be written as JSON lives in memory (lost on a restart)."""
        key = next(self._live_keys)
        if warn and not self._live:
            log.warning("%s: its callback or meta cannot be stored, so it is kept in memory "
                        "and will not survive a restart (use spider methods and JSON meta)",
                        request.url)
        self._live[key] = request
        kept_back = ("meta", "callback", "body", "headers") if _credentials(request) else (
            "meta", "callback", "body")
        plain = {k: v for k, v in extra.items() if k not in kept_back}
        plain["live"] = key
        return json.dumps(plain, ensure_ascii=False, default=str)


def _credentials(request: Request) -> bool:
    return bool(request.headers) and any(secrets.sensitive(name) for name in request.headers)


def _as_tuples(value: Any) -> Any:
    """JSON's lists back as the tuples a Request holds (`redirects` nests them: a hop
    read back from the frontier had lists for its (status, url) pairs)."""
    return tuple(_as_tuples(item) for item in value) if isinstance(value, list) else value


def _extra_fields(request: Request) -> dict[str, Any]:
    """Request fields (other than the columns) that differ from their defaults."""
    extra = {}
    for name, default in _DEFAULTS.items():
        value = getattr(request, name)
        if value != default:
            extra[name] = dict(value) if name == "headers" else value
    return extra
