"""What reads as page furniture rather than content, told from one element alone.

Tags that never hold content (scripts, forms' controls, navigation), ARIA
roles, hidden elements, and the class and id names sites give their
furniture: share bars, cookie banners, comments, related articles,
newsletter boxes, advertising. `main_content` uses these to leave whole
subtrees out of scoring and of the Markdown; everything else is decided by
scoring text.

Names are read as words inside `class` and `id` (`post-share-bar`,
`relatedArticles`, `cookie_notice`). A class that says "this is the
article" (`article-body`, `entry-content`) outweighs a weak furniture word
(`header`, `sidebar`) in the same name; a strong one (`share`, `comment`,
`related`) in another class of the same element leaves it to scoring, and in
the same class wins (`comment-body` is a comment).
"""

from __future__ import annotations

import re
from itertools import pairwise

from selectolax.lexbor import LexborNode

# Never content, whatever they hold.
SKIP_TAGS = frozenset({
    "script", "style", "noscript", "template", "svg", "math", "canvas", "iframe", "object",
    "embed", "head", "title", "meta", "link", "input", "select", "button", "textarea",
    "option", "nav", "aside", "dialog", "menu", "label", "datalist", "output", "progress",
    "meter", "map", "area", "audio", "video", "source", "track", "picture", "base",
})
SKIP_ROLES = frozenset({
    "navigation", "complementary", "search", "banner", "contentinfo", "menu", "menubar",
    "toolbar", "dialog", "alertdialog", "tablist", "tooltip", "form",
})
# Page furniture by tag, unless it is inside the content (an article's own header).
FURNITURE_TAGS = frozenset({"header", "footer"})

def _vocabulary(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Furniture words strong enough to make a name furniture on their own. A name is
# split into words (`postShareBar`, `post-share_bar` -> post, share, bar) and
# each word and each pair of neighbours (`read-more` -> readmore) is looked up.
STRONG_WORDS = _vocabulary("""
comment comments disqus share sharing sharebar social related recommend recommended
recommendations newsletter subscribe subscription cookie cookies consent gdpr advert
advertisement advertising ad ads adslot adunit adcontainer adwrapper adbox sponsor sponsored
promo promotion outbrain taboola popup modal paywall signup login trending mostpopular
morestories morearticles morenews readmore readnext alsoread recirc recirculation breadcrumb
breadcrumbs pagination pager printonly screenreader sronly visuallyhidden skiplink jumplink
toolbar tags taglist tagcloud taglinks keywords authorbio authorbox authorinfo byline dateline
signature date dates pubdate posted postedon published publishdate
timestamp caption credit credits copyright disclaimer followus teaser rail
""")
# Weaker ones: furniture unless the same name also says content.
WEAK_WORDS = _vocabulary("""
footer header masthead sidebar widget widgets menu nav navbar navigation banner meta utility
tools actions aside topbar
""")
# "This is the content": single words, and pairs as one word.
CONTENT_WORDS = _vocabulary("""
article articlebody postbody postcontent posttext postentry entrycontent entrybody storybody
storycontent storytext maincontent pagecontent contentbody bodytext richtext prose
markdownbody blogpost textcontent paywallcontent articlecontent articletext
""")
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_NAME_CACHE = 8192

_tokens: dict[str, str | None] = {}  # verdicts of single class names and ids
_names: dict[str, str | None] = {}  # of whole `class` (+ `id`) strings: sites repeat them
# Classes that hide an element on every screen (not `hidden-xs`: hidden on phones only).
_HIDDEN_CLASS = re.compile(r"(?:^|\s)(?:is-)?hidden(?:$|\s)")


def token_verdict(token: str) -> str | None:
    """'strong', 'weak', 'content' or None for one class name or id (cached)."""
    verdict = _tokens.get(token, "?")
    if verdict != "?":
        return verdict
    words = [w.lower() for w in _WORDS.findall(token)]
    joined = "".join(words)
    pairs = {a + b for a, b in pairwise(words)}
    strong = _any(words, STRONG_WORDS) or not pairs.isdisjoint(STRONG_WORDS)
    if joined in CONTENT_WORDS or (not pairs.isdisjoint(CONTENT_WORDS) and not strong):
        verdict = "content"
    elif strong:
        verdict = "strong"
    elif _any(words, WEAK_WORDS) or not pairs.isdisjoint(WEAK_WORDS):
        verdict = "weak"
    elif "article" in words or ("content" in words and "main" in words):
        verdict = "content"
    else:
        verdict = None
    if len(_tokens) >= _NAME_CACHE:
        _tokens.clear()
    _tokens[token] = verdict
    return verdict


def _any(words: list[str], vocabulary: frozenset[str]) -> bool:
    return not vocabulary.isdisjoint(words)


def name_verdict(names: str) -> str | None:
    """'furniture', 'content' or None for a `class` + `id` string.

    A strong furniture word makes the name furniture unless another class
    says content (then it is left to scoring); a weak one unless any does.
    """
    known = _names.get(names, "?")
    if known != "?":
        return known
    verdicts = {token_verdict(token) for token in names.split()}
    content = "content" in verdicts
    if "strong" in verdicts:
        verdict = None if content else "furniture"
    elif "weak" in verdicts:
        verdict = "content" if content else "furniture"
    else:
        verdict = "content" if content else None
    if len(_names) >= _NAME_CACHE:
        _names.clear()
    _names[names] = verdict
    return verdict


# What an element is, as `verdict` says.
NEUTRAL, CONTENT, FURNITURE, NEVER = 0, 1, 2, 3


def verdict(node: LexborNode, tag: str) -> int:
    """NEVER content (by tag, role, or hidden), FURNITURE, CONTENT (by name), or NEUTRAL.

    Reads the element's attributes once: this runs for every element the
    main-content search and the Markdown look at.
    """
    if tag in SKIP_TAGS:
        return NEVER
    attrs = node.attributes
    if not attrs:
        return FURNITURE if tag in FURNITURE_TAGS else NEUTRAL
    role = attrs.get("role")
    if (role and role.lower() in SKIP_ROLES) or _hidden(attrs):
        return NEVER
    cls = attrs.get("class") or ""
    ident = attrs.get("id")
    names = f"{cls} {ident}" if ident else cls
    said = name_verdict(names) if names else None
    if tag in FURNITURE_TAGS or said == "furniture":
        return FURNITURE
    return CONTENT if said == "content" else NEUTRAL


def _hidden(attrs: dict[str, str | None]) -> bool:
    """Hidden from readers: `hidden`, `aria-hidden="true"`, a class that hides, display:none."""
    if "hidden" in attrs:
        return True
    cls = attrs.get("class")
    if cls and "hidden" in cls and _HIDDEN_CLASS.search(cls):
        return True
    aria = attrs.get("aria-hidden")
    if aria and aria.lower() == "true":
        return True
    style = attrs.get("style")
    if style and ("none" in style or "hidden" in style):
        style = style.replace(" ", "").lower()
        return "display:none" in style or "visibility:hidden" in style
    return False
