"""Page-level robots directives: `<meta name="robots">`, `<meta name="TOKEN">`, X-Robots-Tag.

`noindex` keeps a page's row without title, text or body; `nofollow` keeps
its links stored but follows none; `rel="nofollow"` on one link is a
ranking hint, followed unless `politeness.rel_nofollow: skip`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from crawler import urls
from crawler.config import PolitenessConfig
from crawler.html.parser import ParsedPage
from crawler.models import Response


@dataclass(slots=True, frozen=True)
class PageDirectives:
    """What a page's robots directives forbid."""

    noindex: bool = False   # keep no title, text or body
    nofollow: bool = False  # follow none of its links


NO_DIRECTIVES = PageDirectives()

# X-Robots-Tag directives that take a value after a colon, so "name:" is not a user agent.
_VALUED = frozenset({"unavailable_after", "max-snippet", "max-image-preview",
                     "max-video-preview"})
_AGENT_PREFIX = re.compile(r"[a-z_-]+")
_WORDS = re.compile(r"[,\s]+")


def page_directives(agent: str, *, headers: Iterable[str] = (),
                    meta: Iterable[tuple[str, str]] = ()) -> PageDirectives:
    """The directives X-Robots-Tag values and `<meta name content>` pairs give `agent`.

    Directives add up, whichever source and whichever of the generic or
    agent-specific forms they come in; `none` means noindex and nofollow.
    Meta names other than "robots" and `agent` are ignored, and so are header
    directives prefixed with another agent ("otherbot: noindex").
    """
    agent = agent.lower()
    words: set[str] = set()
    for value in headers:
        words.update(_header_words(value, agent))
    for name, content in meta:
        if name.strip().lower() in ("robots", agent):
            words.update(_WORDS.split(content.lower()))
    none = "none" in words
    return PageDirectives(noindex=none or "noindex" in words,
                          nofollow=none or "nofollow" in words)


def _header_words(value: str, agent: str) -> list[str]:
    """The words of one X-Robots-Tag value that apply to `agent`.

    "otherbot: noindex, nofollow" applies both to otherbot only: an agent prefix
    holds until the next one, which also reads headers a proxy joined with ", ".
    """
    words: list[str] = []
    scope: str | None = None  # None: every crawler
    for part in value.lower().split(","):
        head, colon, rest = part.partition(":")
        name = head.strip()
        if colon and name not in _VALUED and _AGENT_PREFIX.fullmatch(name):
            scope, part = name, rest
        if scope is None or scope == agent:
            words.extend(_WORDS.split(part.strip()))
    return words


def directives_for(response: Response, agent: str,
                   politeness: PolitenessConfig) -> PageDirectives:
    """The directives of a fetched page that the configuration says to obey."""
    obey_noindex, obey_nofollow = politeness.noindex == "obey", politeness.nofollow == "obey"
    if not (obey_noindex or obey_nofollow):
        return NO_DIRECTIVES
    page = response.parsed_page
    found = page_directives(agent, headers=response.headers.getall("X-Robots-Tag", ()),
                            meta=page.robots_meta() if page is not None else ())
    return PageDirectives(noindex=found.noindex and obey_noindex,
                          nofollow=found.nofollow and obey_nofollow)


def unfollowed(page: ParsedPage | None, directives: PageDirectives, *,
               rel_nofollow: str) -> Callable[[str], bool] | None:
    """A test for the URLs a page's callback yields that must not be followed; None: none.

    With `nofollow` no URL is followed. With `rel_nofollow: skip`, a URL the
    page links to only through `rel="nofollow"` anchors is not followed (one
    plain anchor to it is enough to follow it).
    """
    if directives.nofollow:
        return lambda url: True
    if rel_nofollow != "skip" or page is None:
        return None
    plain = {link.url for link in page.links if not link.nofollow}
    hinted = {link.url for link in page.links if link.nofollow} - plain
    if not hinted:
        return None
    form = page.form
    return lambda url: _canonical(url, form) in hinted


def _canonical(url: str, form: urls.Canonicalizer) -> str | None:
    try:
        return form.canonicalize(url)
    except urls.Rejected:
        return None
