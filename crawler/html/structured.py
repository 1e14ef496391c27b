"""schema.org data in a page: JSON-LD scripts and microdata, as plain JSON objects.

`structured_data(tree)` returns every top-level object the page declares,
JSON-LD first (`@graph` arrays opened, arrays of objects flattened) then
microdata (`itemscope` elements outside any other item, their `itemprop`s
read as the spec says: `content`, `href`/`src`, `datetime`, `value`, else the
text; a nested `itemscope` is a nested object). A script that is not valid
JSON is skipped, never an error: pages get this wrong often.

`find_types(objects, names)` picks the objects of chosen types, anywhere in
the nesting (a Recipe inside a WebPage's `mainEntity`), so they can become
items with no CSS. A type matches itself and its common schema.org subtypes
(`Article` matches `NewsArticle` and `BlogPosting`).

Everything is bounded: scripts over 1 MiB, nesting deeper than 12, and more
than 500 objects per page are not read.

Most pages declare nothing, and the query that finds the declarations walks
the whole document (a third of the metadata's cost on the benchmark site), so
given the raw body `structured_data` first looks for the three markers in the
bytes, which costs a few microseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.html.parser import css

MAX_SCRIPT = 1 << 20
MAX_DEPTH = 12
MAX_OBJECTS = 500
_QUERY = 'script[type="application/ld+json" i], [itemscope], [itemprop]'

# Well-known subtypes, so asking for the parent type finds them.
SUBTYPES: dict[str, frozenset[str]] = {
    name: frozenset(children.split()) for name, children in {
        "Article": "NewsArticle BlogPosting Report ScholarlyArticle TechArticle "
                   "SocialMediaPosting LiveBlogPosting DiscussionForumPosting AnalysisNewsArticle "
                   "OpinionNewsArticle ReviewNewsArticle BackgroundNewsArticle "
                   "ReportageNewsArticle SatiricalArticle AdvertiserContentArticle",
        "NewsArticle": "AnalysisNewsArticle OpinionNewsArticle ReviewNewsArticle "
                       "BackgroundNewsArticle ReportageNewsArticle AskPublicNewsArticle",
        "SocialMediaPosting": "BlogPosting LiveBlogPosting DiscussionForumPosting",
        "BlogPosting": "LiveBlogPosting",
        "Product": "IndividualProduct ProductModel SomeProducts ProductGroup Vehicle Car "
                   "Motorcycle DietarySupplement Drug",
        "Event": "BusinessEvent ChildrensEvent ComedyEvent CourseInstance DanceEvent "
                 "DeliveryEvent EducationEvent ExhibitionEvent Festival FoodEvent Hackathon "
                 "LiteraryEvent MusicEvent PublicationEvent SaleEvent ScreeningEvent "
                 "SocialEvent SportsEvent TheaterEvent VisualArtsEvent",
        "Review": "CriticReview EmployerReview UserReview Recommendation MediaReview",
        "LocalBusiness": "Restaurant CafeOrCoffeeShop BarOrPub Bakery Store Hotel "
                         "LodgingBusiness AutomotiveBusiness MedicalBusiness "
                         "FinancialService FoodEstablishment",
        "Organization": "Corporation NewsMediaOrganization EducationalOrganization "
                        "GovernmentOrganization NGO LocalBusiness SportsOrganization",
        "CreativeWork": "Article NewsArticle BlogPosting Book Movie MusicRecording Recipe "
                        "Review WebPage VideoObject Course HowTo FAQPage",
        "WebPage": "AboutPage CheckoutPage CollectionPage ContactPage FAQPage ItemPage "
                   "MedicalWebPage ProfilePage QAPage RealEstateListing SearchResultsPage",
    }.items()
}


def structured_data(tree: LexborHTMLParser) -> list[dict[str, Any]]:
    """Every top-level JSON-LD and microdata object of the page, JSON-LD first.

    No check of the raw bytes first: with the shared CSS engine the query
    (27 us on a 22 KB page) costs less than lowering the bytes to look for a
    marker did (64 us), and a page that declares nothing is its common case.
    """
    root = tree.root
    if root is None:
        return []
    scripts: list[LexborNode] = []
    scopes: list[LexborNode] = []
    props: list[LexborNode] = []
    seen: set[int] = set()
    for node in css(root, _QUERY):  # one walk of the document for all three
        if node.mem_id in seen:  # a node matching two of the selectors comes twice
            continue
        seen.add(node.mem_id)
        attrs = node.attributes
        if node.tag == "script" and "itemprop" not in attrs:
            scripts.append(node)
        else:
            (scopes if "itemscope" in attrs else props).append(node)
            if "itemscope" in attrs and "itemprop" in attrs:
                props.append(node)
    objects = [obj for script in scripts for obj in _json_ld(script)][:MAX_OBJECTS]
    if scopes:
        owned = _owners(props, {scope.mem_id for scope in scopes})
        objects += [_item(scope, owned, 0) for scope in scopes
                    if "itemprop" not in scope.attributes][:MAX_OBJECTS - len(objects)]
    return objects


def types_of(obj: dict[str, Any]) -> list[str]:
    """An object's `@type`s as bare names (`https://schema.org/Product` -> `Product`)."""
    value = obj.get("@type")
    names = value if isinstance(value, list) else [value]
    return [name.rsplit("/", 1)[-1].rsplit("#", 1)[-1] for name in names
            if isinstance(name, str) and name]


def matching(name: str) -> frozenset[str]:
    """The type names that count as `name`: itself and its known subtypes."""
    return frozenset({name}) | SUBTYPES.get(name, frozenset())


def find_types(objects: Iterable[dict[str, Any]], names: Iterable[str]
               ) -> Iterator[tuple[str, dict[str, Any]]]:
    """(the asked-for name, object) for each object of one of `names`, at any depth;
    an object found is not searched further (a Product's Offer is part of it)."""
    wanted = [(name, matching(name)) for name in names]
    stack: list[tuple[Any, int]] = [(obj, 0) for obj in reversed(list(objects))]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            continue
        if isinstance(value, dict):
            types = set(types_of(value))
            hit = next((name for name, match in wanted if not match.isdisjoint(types)), None)
            if hit is not None:
                yield hit, value
                continue
            stack.extend((child, depth + 1) for child in reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend((child, depth + 1) for child in reversed(value))


# -- JSON-LD -------------------------------------------------------------------

_CDATA = re.compile(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$")


def _json_ld(script: LexborNode) -> list[dict[str, Any]]:
    """The objects of one JSON-LD script: `@graph` opened, arrays flattened."""
    text = script.text(deep=True) or ""
    if not text.strip() or len(text) > MAX_SCRIPT:
        return []
    try:
        data = json.loads(_CDATA.sub("", text), strict=False)
    except (ValueError, RecursionError):
        return []
    out: list[dict[str, Any]] = []
    for obj in data if isinstance(data, list) else [data]:
        if not isinstance(obj, dict):
            continue
        graph = obj.get("@graph")
        if isinstance(graph, list):
            out.extend(item for item in graph if isinstance(item, dict))
        elif "@type" in obj:
            out.append(obj)
    return out


# -- microdata -----------------------------------------------------------------

_URL_PROPS = {"a": "href", "area": "href", "link": "href", "img": "src", "audio": "src",
              "video": "src", "source": "src", "embed": "src", "iframe": "src",
              "track": "src", "object": "data"}


def _owners(props: list[LexborNode], scopes: set[int]) -> dict[int, list[LexborNode]]:
    """Each `itemprop` element under the nearest `itemscope` above it, in page order."""
    owned: dict[int, list[LexborNode]] = {}
    for prop in props:
        up = prop.parent
        while up is not None and up.mem_id not in scopes:
            up = up.parent
        if up is not None:
            owned.setdefault(up.mem_id, []).append(prop)
    return owned


def _item(node: LexborNode, owned: dict[int, list[LexborNode]], depth: int) -> dict[str, Any]:
    """One `itemscope` element as an object: `@type` and its properties."""
    obj: dict[str, Any] = {}
    kinds = (node.attributes.get("itemtype") or "").split()
    if kinds:
        obj["@type"] = kinds[0] if len(kinds) == 1 else kinds
    for prop in owned.get(node.mem_id, ()):
        attrs = prop.attributes
        nested = "itemscope" in attrs and depth < MAX_DEPTH
        value = _item(prop, owned, depth + 1) if nested else _value(prop)
        for name in (attrs.get("itemprop") or "").split():
            if name in obj:
                old = obj[name]
                obj[name] = [*old, value] if isinstance(old, list) else [old, value]
            else:
                obj[name] = value
    return obj


def _value(node: LexborNode) -> str:
    attrs = node.attributes
    tag = node.tag or ""
    if "content" in attrs:
        return attrs.get("content") or ""
    if tag in _URL_PROPS:
        return attrs.get(_URL_PROPS[tag]) or ""
    if tag == "time" and attrs.get("datetime"):
        return attrs.get("datetime") or ""
    if tag in ("data", "meter") and "value" in attrs:
        return attrs.get("value") or ""
    return " ".join((node.text(deep=True) or "").split())
