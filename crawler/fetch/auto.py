"""`fetch.render: auto`: does this page need a browser? A guess from its HTML, then experience.

A page fetched over HTTP is rendered when it looks built by scripts: it has
scripts and an empty app root (`<div id="app">`, `#root`, `#__next`, ...), a
`<noscript>` asking for JavaScript, little text or no links. A page without a
single `<script>` is never rendered: nothing could build it.

Each render is then compared with the HTTP version: did it find more links
or clearly more text? That is learnt per URL pattern (host + path with its
last segment and numbers generalised: `/item/12` and `/item/13` are one) and
per host. A pattern whose renders found more at least half the time is
rendered even when a page of it does not look script-built; one whose first
renders found nothing (`SAMPLE` of them) is not rendered again, nor is a host
whose first `HOST_SAMPLE` renders found nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from crawler import urls
from crawler.html.parser import ParsedPage, css

SAMPLE = 3  # renders of a pattern before its verdict
HOST_SAMPLE = 10  # renders of a host, all finding nothing, before it is given up
LITTLE_TEXT = 200  # characters of visible text below which a page looks empty
APP_ROOTS = ("#app", "#root", "#__next", "#__nuxt", "#___gatsby", "#svelte", "[data-reactroot]",
             "[ng-app]", "[ng-version]", "[data-server-rendered]")
_APP_ROOTS = ", ".join(APP_ROOTS)
_NUMBER = re.compile(r"\d+")
_ASKS_FOR_JS = re.compile(r"javascript|enable js|\bjs\b", re.IGNORECASE)
_SCRIPT = re.compile(rb"<script", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Shape:
    """What a page shows without (or with) its scripts run."""

    text: int  # characters of text outside script, style and template
    links: int  # distinct link targets
    scripts: int
    empty_app_root: bool  # an app root element with nothing in it
    asks_for_js: bool  # a <noscript> that asks for JavaScript


def has_scripts(body: bytes) -> bool:
    """Cheap first test on the raw bytes: no `<script` at all, no rendering."""
    return _SCRIPT.search(body) is not None


def shape_of(page: ParsedPage) -> Shape:
    tree = page.tree
    body = tree.body
    text = len(body.text(strip=True)) if body is not None else 0
    for node in css(tree, "script, style, template, noscript"):
        text -= len(node.text(strip=True))
    roots = css(tree, _APP_ROOTS)
    empty_root = any(not node.text(strip=True) and node.css_first("a, img, p") is None
                     for node in roots)
    asks = any(_ASKS_FOR_JS.search(node.text() or "") for node in css(tree, "noscript"))
    targets = {link.url for link in page.links if link.url}
    return Shape(text=max(text, 0), links=len(targets), scripts=len(css(tree, "script")),
                 empty_app_root=empty_root, asks_for_js=asks)


def looks_script_built(shape: Shape) -> bool:
    if not shape.scripts:
        return False
    return (shape.empty_app_root or shape.asks_for_js or shape.text < LITTLE_TEXT
            or shape.links == 0)


def found_more(before: Shape, after: Shape) -> bool:
    """Did rendering show what the HTML did not: new links, or clearly more text?"""
    return after.links > before.links or after.text > before.text * 1.2 + 100


def pattern_of(url: str) -> str:
    """The URL pattern renders are learnt for: host, and the path with its last segment
    and every number generalised (`/shop/item/12` → `/shop/item/*`)."""
    parsed = urls.parse_url(url)
    directory = (parsed.path or "/").rsplit("/", 1)[0]
    return f"{urls.host_key(parsed)}{_NUMBER.sub('*', directory)}/*"


@dataclass(slots=True)
class Tally:
    rendered: int = 0
    found_more: int = 0

    def verdict(self, sample: int) -> bool | None:
        """True: render; False: do not; None: not enough renders to say."""
        if self.rendered < sample:
            return None
        return self.found_more * 2 >= self.rendered


class Learner:
    """Remembers, per URL pattern and host, whether rendering found more."""

    def __init__(self) -> None:
        self.patterns: defaultdict[str, Tally] = defaultdict(Tally)
        self.hosts: defaultdict[str, Tally] = defaultdict(Tally)

    def should_render(self, url: str, shape: Shape) -> bool:
        if not shape.scripts:
            return False
        pattern = self.patterns.get(pattern_of(url))
        verdict = pattern.verdict(SAMPLE) if pattern is not None else None
        if verdict is not None:
            return verdict
        host = self.hosts.get(urls.host_key(url))
        if host is not None and host.rendered >= HOST_SAMPLE and not host.found_more:
            return False
        return looks_script_built(shape)

    def learn(self, url: str, before: Shape, after: Shape) -> bool:
        """Record one render; True when it found more."""
        more = found_more(before, after)
        for tally in (self.patterns[pattern_of(url)], self.hosts[urls.host_key(url)]):
            tally.rendered += 1
            tally.found_more += more
        return more
