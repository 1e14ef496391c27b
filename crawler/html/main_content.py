"""Where a page's main content is: scoring blocks of text on the parsed Lexbor tree.

`find_main(tree)` reads the tree the crawler already parsed (no second
parse, no changes to it) and returns the element(s) that hold what a reader
came for, in document order:

1. *Paragraphs*: the elements text lives in (`p`, `pre`, headings, list
   items, cells, and `div`s with text of their own), with their text and
   link-text lengths. Those inside furniture (`boilerplate`: navigation,
   share bars, comments, related articles, hidden elements) do not count,
   unless that "furniture" holds most of the page's text (a whole site
   wrapped in `<div class="page sidebar-layout">` is not furniture).
2. *Scores*, as Readability scores: each paragraph of 25 characters or more
   scores 1 + its commas + a point per 100 characters (at most 3), less
   its share of link text, and hands the score to its ancestors: all of it
   to the parent, half to the grandparent, a third of the level further up.
   A container's score is damped by its own link density and moved by its
   tag and class/id names (`article-body` up, `sidebar` down).
3. *The best container*, moved up to an ancestor when several strong
   candidates share it (an article split into sections), joined by
   siblings that score well or read as prose (an article body interrupted
   by an advert).
4. *Not an article*: when the best container holds too little of the
   page's text (a listing, a product grid, a forum index), the content is
   `<main>` (or `[role=main]`, or the only `<article>`), else the body, and
   the Markdown keeps its link lists: a reader would call them the content.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.html import boilerplate
from crawler.html.boilerplate import CONTENT, FURNITURE, NEUTRAL, NEVER
from crawler.html.parser import css, css_first

# Elements whose own text is a paragraph. `div`-like ones count their direct text only.
_TEXT_BLOCKS = "p, pre, h1, h2, h3, h4, h5, h6, li, td, th, dd, dt, blockquote, figcaption, " \
               "div, section, article, main, font, center, address"
_QUERY = _TEXT_BLOCKS + ", a"
_WHOLE = frozenset({"p", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "figcaption", "dt"})
_CONTAINS_P = frozenset({"li", "td", "th", "dd", "blockquote", "address"})
_TAG_WEIGHT = {"div": 5, "article": 0, "main": 0, "section": 3, "pre": 3, "td": 3,
               "blockquote": 3, "ol": -3, "ul": -3, "dl": -3, "dd": -3, "dt": -3, "li": -3,
               "form": -3, "address": -3, "th": -5, "h1": -5, "h2": -5, "h3": -5, "h4": -5,
               "h5": -5, "h6": -5}
_NAME_WEIGHT = {CONTENT: 25, FURNITURE: -25}
MIN_PARAGRAPH = 25  # characters: shorter ones do not score
MAX_LEVELS = 5  # ancestors a paragraph's score reaches
LINK_LEVELS = 6  # ancestors of a link searched for the paragraph it is in
# "Furniture" holding this share of the page's text is the page's own wrapper.
WRAPPER_SHARE = 0.4
# The best container must hold this share of the text outside furniture and links,
# else the page is not an article and its whole main area is the content.
ARTICLE_SHARE = 0.25
# A best container with this share of link text is a listing or a hub page, not an article.
LISTING_DENSITY = 0.45
# Strong candidates in other branches that make their common ancestor the content.
STRONG_PARTS = 2
LCA_LEVELS = 2  # how far above the best container it may meet the h1


@dataclass(slots=True)
class MainContent:
    """The content: its root elements in document order, and how to render them."""

    roots: list[LexborNode] = field(default_factory=list)
    # True: an article was found, so link lists and furniture inside it are left out.
    # False: a page that is not an article (or has no text): its main area, link lists kept.
    article: bool = False
    title: LexborNode | None = None  # the page's h1 when it is outside the roots
    # boilerplate.verdict of the elements scoring looked at, by mem_id (a "sidebar"
    # wrapping the whole page is NEUTRAL here); the renderer decides the others alone.
    verdicts: dict[int, int] = field(default_factory=dict)
    # Share of link text in the paragraphs and containers scoring looked at, by mem_id.
    densities: dict[int, float] = field(default_factory=dict)

    def density(self, mid: int) -> float:
        return self.densities.get(mid, 0.0)


@dataclass(slots=True)
class _Paragraph:
    node: LexborNode
    tag: str
    length: int
    commas: int
    # Who its text and score go to: its ancestors, nearest first (and a `div` with
    # text of its own, itself first).
    levels: tuple[int, ...]
    links: int = 0

    @property
    def density(self) -> float:
        return self.links / self.length


class _Scorer:
    """One page's paragraphs, their ancestors and the containers' scores."""

    def __init__(self, body: LexborNode) -> None:
        self.body = body
        self.body_id = body.mem_id
        self.nodes: dict[int, LexborNode] = {self.body_id: body}
        self.parent: dict[int, int | None] = {self.body_id: None}
        self.depth: dict[int, int] = {self.body_id: 0}
        self.paragraphs: dict[int, _Paragraph] = {}
        self.text: dict[int, int] = {}  # text of the paragraphs below each element
        self.links: dict[int, int] = {}
        self.score: defaultdict[int, float] = defaultdict(float)
        self.verdicts: dict[int, int] = {self.body_id: NEUTRAL}
        self.inside: dict[int, bool] = {self.body_id: False}  # in furniture, by mem_id
        self.total = 0  # text of every paragraph, furniture included
        self.in_link: set[int] = set()  # registered `<a>` elements
        self.h1: list[LexborNode] = []

    def register(self, node: LexborNode) -> int:
        """Remember `node` and its ancestors up to the body; returns its mem_id.

        The walk up goes through Lexbor only until it meets a node seen before.
        """
        mid = node.mem_id
        if mid in self.depth:
            return mid
        walked = [(mid, node)]
        up = node.parent
        while up is not None and (up_id := up.mem_id) not in self.depth:
            walked.append((up_id, up))
            up = up.parent
        parent = None if up is None else up.mem_id
        depth = -1 if parent is None else self.depth[parent]
        for walked_id, walked_node in reversed(walked):
            depth += 1
            self.depth[walked_id], self.parent[walked_id] = depth, parent
            self.nodes[walked_id] = walked_node
            if walked_node.tag == "a":
                self.in_link.add(walked_id)
            parent = walked_id
        return mid

    def ancestors(self, mid: int, count: int) -> list[int]:
        """Up to `count` ancestors of a registered element, nearest first."""
        out = []
        parent = self.parent[mid]
        while parent is not None and len(out) < count:
            out.append(parent)
            parent = self.parent[parent]
        return out

    # -- paragraphs --------------------------------------------------------

    def collect(self) -> None:
        """Every paragraph with its text length, ancestors and link text.

        One CSS query finds blocks and links alike: each query walks the
        whole document in Lexbor, which costs as much as the Python work.
        """
        later: list[tuple[LexborNode, str]] = []
        links: list[LexborNode] = []
        add = self._add
        for node in css(self.body, _QUERY):
            tag = node.tag or ""
            if tag == "a":
                links.append(node)
            elif tag in _WHOLE:
                if tag == "h1":
                    self.h1.append(node)
                text = node.text(deep=True)
                if text and not text.isspace():
                    add(node, tag, text, whole=True)
            else:
                later.append((node, tag))
        holds_p = {anc for p in self.paragraphs.values() for anc in p.levels[:3]}
        for node, tag in later:
            whole = tag in _CONTAINS_P and node.mem_id not in holds_p
            text = node.text(deep=whole)
            if text and not text.isspace():
                add(node, tag, text, whole=whole)
        self._link_text(links)

    def _add(self, node: LexborNode, tag: str, text: str, *, whole: bool) -> None:
        length = len(" ".join(text.split()))
        mid = self.register(node)
        above = self.ancestors(mid, MAX_LEVELS)
        commas = text.count(",")
        if not text.isascii():  # CJK commas
            commas += text.count("\uff0c") + text.count("\u3001")
        para = _Paragraph(node, tag, length, commas, tuple(above) if whole else (mid, *above))
        if not self.in_link.isdisjoint(above[:3]):
            para.links = length  # a card: `<a><h3>..</h3><p>..</p></a>` is all link
        self.paragraphs[mid] = para
        self.total += length

    def _link_text(self, links: list[LexborNode]) -> None:
        """Add each link's text to the paragraph it is in (a few levels up at most)."""
        paragraphs = self.paragraphs
        for link in links:
            text = link.text(deep=True)
            words = text.split() if text else ()
            if not words:
                continue
            length = len(" ".join(words))
            node = link.parent
            for _ in range(LINK_LEVELS):
                if node is None:
                    break
                para = paragraphs.get(node.mem_id)
                if para is not None:
                    para.links = min(para.length, para.links + length)
                    break
                node = node.parent

    # -- furniture ---------------------------------------------------------

    def verdict(self, mid: int) -> int:
        """boilerplate.verdict of an element (memoised); furniture holding a large
        share of the page's text is the page's own wrapper, whatever its name says."""
        said = self.verdicts.get(mid)
        if said is None:
            node = self.nodes[mid]
            said = boilerplate.verdict(node, node.tag or "")
            if said == FURNITURE and _text_length(node, WRAPPER_SHARE * self.total) > \
                    WRAPPER_SHARE * self.total:
                said = NEUTRAL
            self.verdicts[mid] = said
        return said

    def in_furniture(self, mid: int) -> bool:
        """Whether a registered element is furniture or inside furniture (memoised)."""
        inside = self.inside.get(mid)
        if inside is not None:
            return inside
        path = [mid]
        parent = self.parent[mid]
        while parent is not None and parent not in self.inside:
            path.append(parent)
            parent = self.parent[parent]
        inside = parent is not None and self.inside[parent]
        for anc in reversed(path):  # from the top down
            inside = inside or self.verdict(anc) >= FURNITURE
            self.inside[anc] = inside
        return inside

    def drop_furniture(self) -> None:
        """Leave out paragraphs inside furniture; sum the text of the rest per element."""
        own_text: defaultdict[int, int] = defaultdict(int)
        own_links: defaultdict[int, int] = defaultdict(int)
        for mid, para in list(self.paragraphs.items()):
            if self.in_furniture(mid) or not para.levels:
                del self.paragraphs[mid]
                continue
            own_text[para.levels[0]] += para.length
            own_links[para.levels[0]] += para.links
        self._sum_up(own_text, own_links)

    def _sum_up(self, own_text: dict[int, int], own_links: dict[int, int]) -> None:
        """Each element's text and link text: its own paragraphs' and its children's."""
        below_text: defaultdict[int, int] = defaultdict(int)
        below_links: defaultdict[int, int] = defaultdict(int)
        depth, parents = self.depth, self.parent
        for mid in sorted(depth, key=depth.__getitem__, reverse=True):
            text = own_text.get(mid, 0) + below_text.get(mid, 0)
            if not text:
                continue
            links = own_links.get(mid, 0) + below_links.get(mid, 0)
            self.text[mid], self.links[mid] = text, links
            parent = parents[mid]
            if parent is not None:
                below_text[parent] += text
                below_links[parent] += links

    # -- scores ------------------------------------------------------------

    def score_paragraphs(self) -> None:
        for para in self.paragraphs.values():
            if para.length < MIN_PARAGRAPH:
                continue
            score = (1 + para.commas + min(para.length / 100, 3)) * (1 - para.density)
            for level, anc in enumerate(para.levels[:MAX_LEVELS]):
                self.score[anc] += score / (1 if level == 0 else 2 if level == 1 else level * 3)

    def final_scores(self) -> dict[int, float]:
        """Each candidate container's score, with its tag, names and link density."""
        final = {}
        for mid, score in self.score.items():
            tag = self.nodes[mid].tag or ""
            score += _TAG_WEIGHT.get(tag, 0) + _NAME_WEIGHT.get(self.verdict(mid), 0)
            final[mid] = score * (1 - self.density(mid))
        return final

    def density(self, mid: int) -> float:
        text = self.text.get(mid, 0)
        return self.links.get(mid, 0) / text if text else 0.0

    def densities(self) -> dict[int, float]:
        """Link density of every container and paragraph looked at."""
        out = {mid: self.links.get(mid, 0) / text for mid, text in self.text.items() if text}
        for mid, para in self.paragraphs.items():
            out.setdefault(mid, para.density)
        return out


def _text_length(node: LexborNode, above: float) -> int:
    """Characters of text (white space runs as one), counted exactly only when the
    raw length says it may be over `above`."""
    text = node.text(deep=True)
    if not text or len(text) <= above:
        return len(text or "")
    return len(" ".join(text.split()))


def find_main(tree: LexborHTMLParser) -> MainContent:
    """The page's main content (see the module docstring)."""
    body = tree.body
    if body is None:
        return MainContent()
    scorer = _Scorer(body)
    scorer.collect()
    scorer.drop_furniture()
    scorer.score_paragraphs()
    final = scorer.final_scores()
    best = max(final, key=final.__getitem__, default=None)
    if best is None:
        return _whole_page(scorer)
    best = _with_title(scorer, _climb(scorer, final, best))
    roots = _with_siblings(scorer, final, best)
    kept = sum(_clean(scorer, root.mem_id) for root in roots)
    clean = sum(p.length - p.links for p in scorer.paragraphs.values())
    if kept < ARTICLE_SHARE * clean or scorer.density(best) >= LISTING_DENSITY:
        return _whole_page(scorer)
    return MainContent(roots, article=True, title=_title(scorer, roots),
                       verdicts=scorer.verdicts, densities=scorer.densities())


def _climb(scorer: _Scorer, final: dict[int, float], best: int) -> int:
    """Move up from the best candidate to where its text really lives.

    Several strong candidates under one ancestor are parts of one content
    (sections of an article); and an ancestor that scores higher than the
    candidate holds more content than it.
    """
    top = final[best]
    line = scorer.ancestors(best, 1 << 30)
    strong = [mid for mid, score in sorted(final.items(), key=lambda kv: -kv[1])[1:6]
              if score >= 0.75 * top and mid not in line]
    lines = [{mid, *scorer.ancestors(mid, 1 << 30)} for mid in strong]
    lines = [up for up in lines if best not in up]  # not the best's own descendants
    if len(lines) >= STRONG_PARTS:
        for anc in line:
            if anc != scorer.body_id and sum(anc in up for up in lines) >= STRONG_PARTS:
                return anc
    last, threshold = top, top / 3
    for anc in line:
        if anc == scorer.body_id:
            break
        score = final.get(anc)
        if score is None:
            continue
        if score < threshold:
            break
        if score > last:
            return anc
        last = score
    return best


def _clean(scorer: _Scorer, mid: int) -> int:
    """Text below an element that is neither link text nor in furniture."""
    return scorer.text.get(mid, 0) - scorer.links.get(mid, 0)


def _with_title(scorer: _Scorer, best: int) -> int:
    """The nearest common ancestor of the best container and the page's h1, when close:
    a product's title, price and specifications sit beside its description."""
    if not scorer.h1:
        return best
    line = scorer.ancestors(best, LCA_LEVELS)
    h1 = scorer.register(scorer.h1[0])
    if scorer.in_furniture(h1):
        return best
    for anc in scorer.ancestors(h1, 1000):
        if anc == best:
            return best
        if anc in line:
            return anc if anc != scorer.body_id else best
    return best


def _with_siblings(scorer: _Scorer, final: dict[int, float], best: int) -> list[LexborNode]:
    """The best container and the siblings that belong with it, in document order."""
    node = scorer.nodes[best]
    parent = node.parent
    if best == scorer.body_id or parent is None:
        return [node]
    threshold = max(10.0, final.get(best, 0.0) * 0.2)
    names = node.attributes.get("class")
    roots = []
    for sibling in parent.iter():
        if not sibling.is_element_node:
            continue
        mid = sibling.mem_id
        if mid == best:
            roots.append(sibling)
        elif scorer.verdicts.get(mid, NEUTRAL) >= FURNITURE:
            continue
        elif _belongs(scorer, final, sibling, threshold, names):
            roots.append(sibling)
    return roots


def _belongs(scorer: _Scorer, final: dict[int, float], sibling: LexborNode,
             threshold: float, names: str | None) -> bool:
    mid = sibling.mem_id
    bonus = threshold if names and sibling.attributes.get("class") == names else 0.0
    if mid in final and final[mid] + bonus >= threshold:
        return True
    para = scorer.paragraphs.get(mid)
    if para is None or para.tag != "p":
        return False
    if para.length > 80:
        return para.density < 0.25
    return para.density == 0 and ". " in (sibling.text(deep=True) or "") + " "


def _whole_page(scorer: _Scorer) -> MainContent:
    """Not an article: `<main>`, `[role=main]` or the only `<article>`, else the body."""
    body = scorer.body
    root = css_first(body, "main, [role=main]")
    if root is None:
        articles = css(body, "article")
        root = articles[0] if len(articles) == 1 else body
    return MainContent([root], article=False, verdicts=scorer.verdicts)


def _title(scorer: _Scorer, roots: list[LexborNode]) -> LexborNode | None:
    """The page's headline when the content does not hold it: of the h1s outside
    navigation and hidden parts, the one nearest the content (the headline in an
    article's header, not a logo in the site's); one in furniture only if it
    shares more than the body with the content."""
    root_ids = {root.mem_id for root in roots}
    near = {*root_ids, *scorer.ancestors(roots[0].mem_id, 1 << 30)}
    chosen, chosen_depth = None, -1
    for h1 in scorer.h1:
        mid = scorer.register(h1)
        up = scorer.ancestors(mid, 1 << 30)
        if not root_ids.isdisjoint(up):
            return None  # the content has its own h1
        if any(scorer.verdict(anc) == NEVER for anc in (mid, *up)):
            continue
        depth = next((scorer.depth[anc] for anc in up if anc in near), 0)
        if depth > chosen_depth:
            chosen, chosen_depth = h1, depth
    if chosen is None or (chosen_depth == 0 and scorer.in_furniture(chosen.mem_id)):
        return None
    return chosen
