"""HTML with selectolax (Lexbor): links, title, visible text, CSS extraction.

Pure and synchronous, so the engine can run any of it in a thread for huge
pages (Lexbor releases the GIL while it parses).

Visible text is taken *after* the spider's callbacks have seen the page,
because it strips script, style and navigation elements from the tree and a
callback may want them (JSON-LD in a script, links in a nav).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from selectolax.lexbor import LexborCSSSelector, LexborHTMLParser, LexborNode
from yarl import URL

from crawler import urls
from crawler.config import ExtractRule, FieldRule
from crawler.html import content

# Never visible.
_INVISIBLE = ["script", "style", "noscript", "template", "svg", "iframe", "object", "head"]
# Boilerplate that can be told apart from content by its element alone.
_BOILERPLATE = ["nav", "header", "footer", "aside", "form"]
_HAS_BASE = re.compile(rb"<base[\s>/]", re.I)


class Link(NamedTuple):
    """One `<a href>`: the canonical target (None when not crawlable), as written, anchor text.

    A NamedTuple because a page makes dozens of these: it is the cheapest record to build.
    """

    url: str | None
    href: str
    text: str
    reason: str | None = None  # why url is None: 'scheme' or 'invalid_url'
    nofollow: bool = False


class LinkColumns(Sequence[Link]):
    """A page's links as a reader process sends them: the JSON of their `links` rows
    and the distinct targets to follow, two strings and a list of strings, which
    unpickle without a Python call per link (a NamedTuple each costs one).

    The store splices the page's id into the JSON (`rows_json`) instead of
    encoding the rows again; `Link`s are decoded only when something iterates.
    """

    __slots__ = ("_links", "count", "json", "refused", "targets")

    def __init__(self, links: Sequence[Link]) -> None:
        # Each row is [placeholder, url, href, text, reason, nofollow]; the store's SQL
        # reads the first four. json escapes U+0000, and a '"' inside a string is
        # escaped too, so '["\u0000",' can only be the start of a row.
        self.json = json.dumps([[_NUL, *link] for link in links], ensure_ascii=False)
        self.targets = list(dict.fromkeys([link.url or link.href for link in links]))
        self.refused = [link.href for link in links if not link.url]  # targets kept as written
        self.count = len(links)
        self._links: list[Link] | None = None

    def __getstate__(self) -> tuple[str, list[str], list[str], int]:
        return self.json, self.targets, self.refused, self.count

    def __setstate__(self, state: tuple[str, list[str], list[str], int]) -> None:
        self.json, self.targets, self.refused, self.count = state
        self._links = None

    def rows_json(self, page_id: int) -> str:
        """The `links` rows of page `page_id` as JSON arrays, without the brackets."""
        return self.json[1:-1].replace(_ROW_START, f"[{int(page_id)},")

    def _decoded(self) -> list[Link]:
        if self._links is None:
            self._links = [Link(*row[1:]) for row in json.loads(self.json)]
        return self._links

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: Any) -> Any:
        return self._decoded()[index]

    def __iter__(self) -> Iterator[Link]:
        return iter(self._decoded())


_NUL = "\x00"
_ROW_START = '["\\u0000",'

_engines = threading.local()


def css(node: LexborHTMLParser | LexborNode, query: str) -> list[LexborNode]:
    """`node.css(query)` through this thread's shared CSS engine.

    selectolax builds a CSS parser and selector engine per document on its
    first query: ~45 us per page, a tenth of the crawler's per-page budget.
    The engine works on any document's nodes, so one per thread serves them all
    (not one per process: it keeps per-query state).
    """
    root = node.root if isinstance(node, LexborHTMLParser) else node
    return [] if root is None else _engine().find(query, root)


def css_first(node: LexborHTMLParser | LexborNode, query: str) -> LexborNode | None:
    """`node.css_first(query)` through this thread's shared CSS engine."""
    root = node.root if isinstance(node, LexborHTMLParser) else node
    found = [] if root is None else _engine().find_first(query, root)
    return found[0] if found else None


def _engine() -> LexborCSSSelector:
    engine = getattr(_engines, "engine", None)
    if engine is None:
        engine = _engines.engine = LexborCSSSelector()
    return engine


class ParsedPage:
    """A page's title and links, and its tree.

    A page read in a reader process (`crawler.html.reading`) comes back without
    a tree, with its robots `<meta>` pairs and extraction rules' items instead;
    its tree is parsed here only if something asks for it (a callback's
    `response.css`).
    """

    __slots__ = ("_source", "_tree", "extracted", "form", "links", "meta", "title")

    def __init__(self, tree: LexborHTMLParser | None, title: str | None,
                 links: Sequence[Link],
                 *, source: tuple[bytes, str] | None = None,
                 meta: list[tuple[str, str]] | None = None,
                 extracted: list[tuple[str | None, dict[str, Any]]] | None = None,
                 form: urls.Canonicalizer = urls.DEFAULT_FORM) -> None:
        self._tree = tree
        self._source = source  # (body, encoding) to parse when tree is None
        self.title = title
        self.links = links
        self.meta = meta  # robots <meta> pairs, when read elsewhere
        self.extracted = extracted  # extraction rules' items, when read elsewhere
        self.form = form  # the canonical form of the links' URLs

    @property
    def tree(self) -> LexborHTMLParser:
        if self._tree is None:
            assert self._source is not None
            self._tree = LexborHTMLParser(_decode(*self._source))
        return self._tree

    @property
    def has_tree(self) -> bool:
        """Whether the tree exists (parsed here) rather than waiting to be parsed."""
        return self._tree is not None

    def robots_meta(self) -> list[tuple[str, str]]:
        """(name, content) of the head's `<meta name content>` elements."""
        return self.meta if self.meta is not None else robots_meta(self.tree)

    def canonical_targets(self) -> set[str]:
        """The link targets that are URLs in `form` (not hrefs kept as written because
        they were refused: mailto:, malformed): canonical already, so admission need
        not make them so again."""
        links = self.links
        if isinstance(links, LinkColumns):
            made = set(links.targets)
            return made.difference(links.refused) if links.refused else made
        return {link.url for link in links if link.url}


def parse_page(body: bytes, url: str, encoding: str = "utf-8",
               form: urls.Canonicalizer = urls.DEFAULT_FORM) -> ParsedPage:
    """Parse HTML and take out what every page needs: title and links (canonical in `form`)."""
    tree = LexborHTMLParser(_decode(body, encoding))
    base = _base_url(tree, url, body)
    return ParsedPage(tree=tree, title=_title(tree), links=extract_links(tree, base, form),
                      form=form)


def extract_links(tree: LexborHTMLParser, base: str,
                  form: urls.Canonicalizer = urls.DEFAULT_FORM) -> list[Link]:
    """Every `<a href>` of the page, resolved against `base`, in page order."""
    join = _joiner(base, form)
    links = []
    for node in css(tree, "a[href]"):
        attrs = node.attributes
        href = attrs.get("href") or ""
        target, reason = join(href)
        rel = attrs.get("rel") or ""
        links.append(Link(target, href, node.text(strip=True), reason,
                          "nofollow" in rel.lower()))
    return links


def robots_meta(tree: LexborHTMLParser) -> list[tuple[str, str]]:
    """(name, content) of each `<meta name content>` in the head, where robots directives live.

    Only the head is searched: a few nodes instead of the whole document.
    """
    root = tree.head or tree.root
    if root is None:
        return []
    return [(node.attributes.get("name") or "", node.attributes.get("content") or "")
            for node in css(root, "meta[name][content]")]


def visible_text(tree: LexborHTMLParser) -> str:
    """The page's readable text, one text run per line. Mutates (strips) the tree."""
    tree.strip_tags(_INVISIBLE)
    root = tree.body or tree.root
    if root is None:
        return ""
    content = css_first(root, "main, article, [role=main]")
    if content is None:
        tree.strip_tags(_BOILERPLATE)
        content = root
    text = content.text(deep=True, separator="\n", strip=True)
    # Whitespace-only text nodes leave empty lines; split/join is ~13x faster than a regex.
    return "\n".join(filter(None, text.split("\n")))


def extract_item(tree: LexborHTMLParser, rule: ExtractRule) -> dict[str, Any]:
    """Apply one extraction rule's fields to a parsed page."""
    return {field.name: _field_value(tree, field) for field in rule.fields}


def rules_for(url: str, rules: Iterable[ExtractRule]) -> list[ExtractRule]:
    return [rule for rule in rules if rule.match is None or rule.match.search(url)]


def _field_value(tree: LexborHTMLParser, field: FieldRule) -> Any:
    if field.many:
        return [v for v in (_node_value(n, field) for n in css(tree, field.selector))
                if v is not None]
    node = css_first(tree, field.selector)
    return None if node is None else _node_value(node, field)


def _node_value(node: LexborNode, field: FieldRule) -> str | None:
    if field.mode == "attr":
        return node.attributes.get(field.attr or "")
    if field.mode == "html":
        return node.html
    return node.text(deep=True, separator=" ", strip=True)


def _title(tree: LexborHTMLParser) -> str | None:
    node = css_first(tree, "title")
    if node is None:
        return None
    return " ".join(node.text().split()) or None


def _base_url(tree: LexborHTMLParser, url: str, body: bytes) -> str:
    if not _HAS_BASE.search(body):  # a byte scan is far cheaper than a tree query
        return url
    node = css_first(tree, "base[href]")
    if node is None:
        return url
    href = node.attributes.get("href") or ""
    try:
        return urls.join(url, href)
    except urls.Rejected:
        return url


def _joiner(base: str,
            form: urls.Canonicalizer) -> Callable[[str], tuple[str | None, str | None]]:
    """A memoising href → (canonical URL in `form`, drop reason) for one page.

    Pages repeat hrefs (navigation, pagination) and sites repeat them across
    pages, so results are cached by what the resolution depends on: nothing
    for an absolute URL, the origin for "/path", the directory for "a/b";
    one cache per form, so the form costs nothing on a hit.
    """
    joined = _joined(form)
    base_url = urls.parse_url(base)
    origin = f"{base_url.scheme}://{base_url.raw_authority}"
    dir_path = base_url.raw_path.rpartition("/")[0]
    directory = origin + dir_path

    def join(href: str) -> tuple[str | None, str | None]:
        key = (_depends_on(href, base, origin, directory, base_url.scheme), href)
        hit = joined.get(key)
        if hit is None:
            if key[0]:
                plain = form.join_plain(origin, dir_path, href)
            else:
                plain = form.canonicalize_plain(href)
            hit = (plain, None) if plain is not None else _join_one(base_url, href, form)
            joined.put(key, hit)
        return hit

    return join


class _Generations:
    """A bounded cache in two generations: entries used in the last two spans survive.

    Cheaper than an LRU (no bookkeeping per hit) and, unlike clearing when
    full, keeps the hot entries (navigation links) across the turnover that a
    site of ever-new URLs causes.
    """

    def __init__(self, span: int) -> None:
        self.span = span
        self._new: dict[Any, Any] = {}
        self._old: dict[Any, Any] = {}

    def get(self, key: Any) -> Any:
        value = self._new.get(key)
        if value is None:
            value = self._old.get(key)
            if value is not None:
                self.put(key, value)  # promoted: it is still in use
        return value

    def put(self, key: Any, value: Any) -> None:
        if len(self._new) >= self.span:
            self._old, self._new = self._new, {}
        self._new[key] = value


# Sized for memory, not hits. On benchmarks/throughput.py's site 100k entries
# would save 4% of the CPU (half the joins miss at any size below that), but
# on a site of ever-new URLs (benchmarks/frontier_memory.py) 2 x 32k entries
# cost 26 MB of peak RSS; 2 x 8k cost nothing measurable.
_JOINED: dict[urls.Canonicalizer, _Generations] = {}


def _joined(form: urls.Canonicalizer) -> _Generations:
    """The join cache of `form` (a process sees one form, or a few in tests)."""
    cache = _JOINED.get(form)
    if cache is None:
        if len(_JOINED) >= 4:
            _JOINED.clear()
        cache = _JOINED[form] = _Generations(8_192)
    return cache

_HAS_SCHEME = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.\-]*:")


def _depends_on(href: str, base: str, origin: str, directory: str, scheme: str) -> str:
    """The part of the base URL that resolving `href` depends on (RFC 3986 §5.2)."""
    if href.startswith("//"):
        return scheme
    if href.startswith("/"):
        return origin
    if _HAS_SCHEME.match(href):
        return ""
    if not href or href[0] in "?#":
        return base
    return directory


def _join_one(base: URL, href: str,
              form: urls.Canonicalizer) -> tuple[str | None, str | None]:
    try:
        return form.join(base, href), None
    except urls.Rejected as exc:
        return None, exc.reason


def _decode(body: bytes, encoding: str) -> str | bytes:
    """What Lexbor should parse: it reads UTF-8 bytes itself (bad bytes become
    U+FFFD), so only other encodings are decoded here."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
        return body
    return content.decode(body, encoding)
