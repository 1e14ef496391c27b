"""The main content of an HTML page as Markdown, for search indexes and language models.

`html_to_markdown(tree)` is pure: it reads a parsed Lexbor tree and never
changes it. `main_content.find_main` says where the content is; this module
renders it: headings, paragraphs, lists, links and images made absolute,
emphasis, code (fenced, with its language), quotes and pipe tables; anything
else is rendered as its text. Inside an article, furniture (share bars,
related links, comments, an article's footer) and blocks that are mostly
links are left out; on a page that is not an article only furniture is.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.html import boilerplate
from crawler.html.main_content import MainContent, find_main
from crawler.html.parser import css

MAX_DEPTH = 200  # deeper than this, a subtree is flattened to text (no recursion limit)

BLOCK = frozenset({
    "address", "article", "body", "blockquote", "dd", "details", "div", "dl", "dt",
    "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hgroup", "hr", "html", "li", "main", "ol", "p", "pre", "section", "summary",
    "table", "ul", "legend", "center", "tbody", "thead", "tfoot", "tr", "td", "th", "caption",
})
HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# Blocks left out of an article when most of their text is links (related stories, tag lists).
# The share of link text above which they go: a paragraph may hold more links.
LINK_LISTS = {"ul": 0.5, "ol": 0.5, "dl": 0.5, "div": 0.5, "section": 0.5, "table": 0.5,
              "figure": 0.5, "p": 0.7}
# Headings of furniture, in an article (lower case, digits and punctuation out).
FURNITURE_HEADINGS = frozenset({
    "comments", "comment", "leave a comment", "leave a reply", "post a comment", "responses",
    "related", "related articles", "related posts", "related stories", "related news",
    "share", "share this", "share this article", "share this story", "share this post",
    "you may also like", "you might also like", "more stories", "more from", "read more",
    "read next", "recommended", "recommended for you", "most popular", "most read", "trending",
    "popular posts", "recent posts", "tags", "follow us", "newsletter", "advertisement",
    "sponsored", "sponsored content", "about the author", "see also",
})
_NOT_WORDS = re.compile(r"[\W\d_]+")
EMPHASIS = {"em": "*", "i": "*", "cite": "*", "strong": "**", "b": "**", "del": "~~",
            "s": "~~", "strike": "~~"}
CODE = frozenset({"code", "kbd", "samp", "tt"})
_ESCAPE = re.compile(r"([\\*_`])")
_LANG = re.compile(r"(?:language|lang)-([\w+#.-]+)")


def html_to_markdown(tree: LexborHTMLParser, base_url: str | None = None,
                     main: MainContent | None = None) -> str:
    """The page's main content as Markdown; `base_url` makes links and images absolute.

    `main` is where the content is, when the caller found it already.
    """
    main = find_main(tree) if main is None else main
    renderer = _Renderer(base_url, main)
    blocks = renderer.block(main.title, 1) if main.title is not None else []
    for root in main.roots:
        blocks.extend(renderer.blocks(root, 0))
    return _tidy("\n\n".join(blocks))


_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_TARGET = re.compile(r"\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKS = re.compile(r"^(?:#{1,6} |> ?|\s*(?:[-*+]|\d+\.) |`{3,}.*$|\|(?: ---\s*\|)+$)|"
                    r"(?<!\\)[*~`|]|\\(?=[\\*_`])", re.M)


def link_text(markdown: str) -> str:
    """Our Markdown without link and image targets (their URLs are not its words)."""
    return _TARGET.sub("]", markdown)


def plain_text(markdown: str) -> str:
    """The words of our Markdown, for hashing and scoring: images, link targets,
    heading and list markers, fences, table rules and emphasis taken out."""
    text = _IMAGE.sub("", markdown)
    previous = None
    while previous != text:  # a link inside a link's text: [![x](a)](b)
        previous, text = text, _LINK.sub(r"\1", text)
    return _MARKS.sub("", text)


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n" if text.strip() else ""


def _escape(text: str) -> str:
    if "*" in text or "_" in text or "`" in text or "\\" in text:
        return _ESCAPE.sub(r"\\\1", text)
    return text


def _text(text: str | None) -> str:
    """A text node as inline Markdown: whitespace runs (newlines too) become one space."""
    if not text:
        return ""
    core = " ".join(text.split())
    if not core:
        return " "
    if text[0].isspace():
        core = " " + core
    if text[-1].isspace():
        core += " "
    return _escape(core)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _paragraph(parts: list[str]) -> str:
    """Inline pieces as one paragraph: spaces collapsed, <br> line breaks kept."""
    lines = (_one_line(line) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


class _Renderer:
    def __init__(self, base_url: str | None, main: MainContent) -> None:
        self.base_url = base_url
        parts = urlsplit(base_url or "")
        self.origin = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
        self.main = main
        self.article = main.article
        self.roots = {root.mem_id for root in main.roots}

    # -- what to leave out ------------------------------------------------

    def skip(self, node: LexborNode, tag: str) -> bool:
        if tag in boilerplate.SKIP_TAGS:
            return True
        mid = node.mem_id
        said = self.main.verdicts.get(mid)
        if said is None:
            said = boilerplate.verdict(node, tag)
        if said == boilerplate.NEVER or (said == boilerplate.FURNITURE and mid not in self.roots
                                         and tag not in boilerplate.FURNITURE_TAGS):
            return True
        if tag in boilerplate.FURNITURE_TAGS:
            return tag == "footer" if self.article else not self._inside_article(node)
        if not self.article or tag not in LINK_LISTS:
            return False
        density = self.main.densities.get(mid)
        if density is None:  # no paragraph below it: text only in links, spans, images
            density = _link_density(node)
        return density > LINK_LISTS[tag]

    @staticmethod
    def _inside_article(node: LexborNode) -> bool:
        return _inside(node, "article")

    # -- blocks -------------------------------------------------------------

    def blocks(self, node: LexborNode, depth: int) -> list[str]:
        """Child content of a block container as a list of Markdown blocks."""
        if depth > MAX_DEPTH:
            text = _one_line(node.text(deep=True))
            return [_escape(text)] if text else []
        out: list[str] = []
        inline: list[str] = []
        for child in node.iter(include_text=True):
            tag = child.tag or ""
            if tag == "-text":
                inline.append(_text(child.text_content))
            elif not child.is_element_node or self.skip(child, tag):
                continue
            elif tag in BLOCK:
                self._flush(inline, out)
                out.extend(self.block(child, depth + 1))
            else:
                inline.append(self.inline(child, depth + 1))
        self._flush(inline, out)
        return out

    @staticmethod
    def _flush(inline: list[str], out: list[str]) -> None:
        text = _paragraph(inline)
        if text:
            out.append(text)
        inline.clear()

    def block(self, node: LexborNode, depth: int) -> list[str]:
        tag = node.tag or ""
        if tag in HEADINGS:
            text = _one_line(self.inline_children(node, depth))
            if not text or (self.article and _furniture_words(text)):
                return []
            return [f"{'#' * int(tag[1])} {text}"]
        if tag == "header" and self.article:  # an article's header: its headings only
            return [md for h in css(node, ", ".join(HEADINGS)) for md in self.block(h, depth)]
        if tag in ("ul", "ol"):
            return self.list(node, depth)
        if tag == "pre":
            return [_fenced(node)]
        if tag == "blockquote":
            inner = "\n\n".join(self.blocks(node, depth))
            return ["\n".join(f"> {line}".rstrip() for line in inner.split("\n"))] if inner else []
        if tag == "table":
            return self.table(node, depth)
        if tag == "hr":
            return ["---"]
        return self.blocks(node, depth)

    def list(self, node: LexborNode, depth: int) -> list[str]:
        ordered = node.tag == "ol"
        try:
            number = int(node.attrs.get("start") or 1)
        except ValueError:
            number = 1
        items: list[str] = []
        for child in node.iter():
            if child.tag != "li" or self.skip(child, "li"):
                continue
            marker = f"{number}. " if ordered else "- "
            number += 1
            body = "\n".join(self.blocks(child, depth + 1))
            lines = body.split("\n") if body else [""]
            pad = " " * len(marker)
            items.append("\n".join([marker + lines[0], *(pad + ln if ln else ln
                                                          for ln in lines[1:])]))
        return ["\n".join(items)] if items else []

    def table(self, node: LexborNode, depth: int) -> list[str]:
        if _layout_table(node):
            return self.blocks(node, depth)
        rows = [[self.cell(cell, depth) for cell in tr.iter() if cell.tag in ("td", "th")]
                for tr in css(node, "tr")]
        rows = [row for row in rows if row]
        if not rows:
            return []
        width = max(len(row) for row in rows)
        rows = [row + [""] * (width - len(row)) for row in rows]
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + " --- |" * width]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return ["\n".join(lines)]

    def cell(self, node: LexborNode, depth: int) -> str:
        return _one_line(self.inline_children(node, depth)).replace("|", "\\|")

    # -- inline -------------------------------------------------------------

    def inline_children(self, node: LexborNode, depth: int) -> str:
        parts: list[str] = []
        for child in node.iter(include_text=True):
            if child.tag == "-text":
                parts.append(_text(child.text_content))
            elif child.is_element_node and not self.skip(child, child.tag or ""):
                parts.append(self.inline(child, depth + 1))
        return "".join(parts)

    def inline(self, node: LexborNode, depth: int) -> str:
        """An inline element as Markdown; a block inside inline content becomes its text."""
        tag = node.tag or ""
        if depth > MAX_DEPTH:
            return _escape(_one_line(node.text(deep=True)))
        if tag == "br":
            return "\n"
        if tag == "img":
            return self.image(node)
        if tag in CODE:
            return _code_span(node.text(deep=True))
        inner = self.inline_children(node, depth)
        if tag == "a":
            return self.link(node, inner)
        if tag in EMPHASIS:
            return _wrap(inner, EMPHASIS[tag])
        return f" {inner} " if tag in BLOCK else inner

    def link(self, node: LexborNode, inner: str) -> str:
        href = (node.attributes.get("href") or "").strip()
        text = _one_line(inner)
        if not text or not href or href.startswith(("#", "javascript:")):
            return inner
        return _around(inner, f"[{text}]({self.absolute(href)})")

    def image(self, node: LexborNode) -> str:
        src = (node.attributes.get("src") or "").strip()
        if not src or src.startswith("data:"):
            return ""
        alt = _one_line(node.attributes.get("alt") or "").replace("]", "\\]")
        return f"![{alt}]({self.absolute(src)})"

    def absolute(self, url: str) -> str:
        url = url.replace(" ", "%20").replace(")", "%29")
        if not self.base_url or url.startswith(("http://", "https://")):
            return url
        if url.startswith("/") and not url.startswith("//") and self.origin:
            return self.origin + url  # the common case, without urljoin's parsing
        return urljoin(self.base_url, url)


def _inside(node: LexborNode, tag: str) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.tag == tag:
            return True
        parent = parent.parent
    return False


def _link_density(node: LexborNode) -> float:
    """Share of an element's text that is link text (for blocks scoring did not see)."""
    text = node.text(deep=True)
    length = len("".join(text.split())) if text else 0
    if not length:
        return 0.0
    links = sum(len("".join((a.text(deep=True) or "").split())) for a in css(node, "a"))
    return links / length


def _furniture_words(text: str) -> bool:
    """A heading that names page furniture: "Comments (3)", "Related articles", "Share this:"."""
    words = _NOT_WORDS.sub(" ", text.lower()).split()
    return " ".join(words) in FURNITURE_HEADINGS


def _layout_table(node: LexborNode) -> bool:
    """A table used for layout, not data: nested tables, or a cell holding long prose."""
    if len(css(node, "table")) > 1:  # the query matches the table itself too
        return True
    return any(len(cell.text(deep=True) or "") > 400 for cell in css(node, "td"))


def _around(inner: str, core: str) -> str:
    """`core` with the whitespace that surrounded `inner` kept outside the markup."""
    lead = " " if inner[:1].isspace() else ""
    trail = " " if inner[-1:].isspace() else ""
    return f"{lead}{core}{trail}"


def _wrap(inner: str, mark: str) -> str:
    text = _one_line(inner)
    return _around(inner, f"{mark}{text}{mark}") if text else inner


def _code_span(text: str) -> str:
    text = _one_line(text)
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(node: LexborNode) -> str:
    """A <pre> as a fenced code block, with a language from a `language-x` class."""
    code = (node.text(deep=True) or "").strip("\n")
    classes = " ".join(filter(None, [node.attributes.get("class"),
                                     *(c.attributes.get("class") for c in node.css("code"))]))
    match = _LANG.search(classes)
    longest = max((len(run) for run in re.findall(r"`{3,}", code)), default=2)
    fence = "`" * (longest + 1)
    return f"{fence}{match.group(1) if match else ''}\n{code}\n{fence}"
