"""Running a spider callback on a response, and sorting out what it yielded."""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from crawler.engine.outcome import Failure
from crawler.models import Item, Request, Response
from crawler.politeness.directives import PageDirectives, unfollowed
from crawler.spider import Spider, values_of


@dataclass(slots=True)
class Yielded:
    """What a callback produced: items, and requests or URL strings to follow."""

    items: list[Item] = field(default_factory=list)
    follow: list[Request | str] = field(default_factory=list)
    failure: Failure | None = None  # it raised (what it yielded before is kept)


async def call_back(spider: Spider, response: Response) -> Yielded:
    """Run the request's callback (the spider's `parse` by default)."""
    yielded = Yielded()
    callback = response.request.callback or spider.parse
    try:
        result = callback(response)
        if inspect.isawaitable(result):
            result = await result
        if inspect.isasyncgen(result):
            async for value in result:
                _collect(value, yielded, spider.item_type)
        else:  # not through `iterate`: an async step per link was 4% of the loop's samples
            for value in values_of(result):
                _collect(value, yielded, spider.item_type)
    except Exception as exc:
        yielded.failure = Failure("callback", f"{type(exc).__name__}: {exc}",
                                  traceback=traceback.format_exc())
    return yielded


def _collect(value: Any, yielded: Yielded, item_type: str) -> None:
    if isinstance(value, str | Request):
        yielded.follow.append(value)
    elif isinstance(value, Item):
        yielded.items.append(value)
    elif isinstance(value, Mapping):
        yielded.items.append(Item(item_type, value))
    elif value is not None:
        raise TypeError(f"a callback yielded {type(value).__name__}; "
                        "expected a dict, an Item, a Request or a URL string")


def split_follow(response: Response, yielded: Yielded, robots: PageDirectives, *,
                 rel_nofollow: str) -> tuple[list[Request | str], list[str]]:
    """(requests to schedule, URLs the page's robots directives say not to follow)."""
    skip = unfollowed(response.parsed_page, robots, rel_nofollow=rel_nofollow)
    if skip is None:
        return yielded.follow, []
    follow: list[Request | str] = []
    kept_back: list[str] = []
    for new in yielded.follow:
        url = new if isinstance(new, str) else new.url
        if skip(url):
            kept_back.append(url)
        else:
            follow.append(new)
    return follow, kept_back
