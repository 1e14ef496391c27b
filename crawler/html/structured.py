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
_QUERY = 'script[type="application/ld+json" i], [itemscope]'

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
    """Every top-level JSON-LD and microdata object of the page, JSON-LD first."""
    root = tree.root
    if root is None:
        return []
    scripts: list[LexborNode] = []
    items: list[LexborNode] = []
    for node in css(root, _QUERY):
        (scripts if node.tag == "script" else items).append(node)
    objects = [obj for script in scripts for obj in _json_ld(script)]
    objects += [_item(node, 0) for node in items
                if "itemprop" not in node.attributes and len(objects) < MAX_OBJECTS]
    return objects[:MAX_OBJECTS]


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


def _item(node: LexborNode, depth: int) -> dict[str, Any]:
    """One `itemscope` element as an object: `@type` and its properties."""
    attrs = node.attributes
    obj: dict[str, Any] = {}
    kinds = (attrs.get("itemtype") or "").split()
    if kinds:
        obj["@type"] = kinds[0] if len(kinds) == 1 else kinds
    for prop in _props(node):
        value = _item(prop, depth + 1) if "itemscope" in prop.attributes and \
            depth < MAX_DEPTH else _value(prop)
        for name in (prop.attributes.get("itemprop") or "").split():
            if name in obj:
                obj[name] = [*obj[name], value] if isinstance(obj[name], list) else \
                    [obj[name], value]
            else:
                obj[name] = value
    return obj


def _props(node: LexborNode) -> Iterator[LexborNode]:
    """The `itemprop` elements that belong to this item (not to an item inside it)."""
    stack = [child for child in node.iter() if child.is_element_node][::-1]
    while stack:
        child = stack.pop()
        attrs = child.attributes
        if "itemprop" in attrs:
            yield child
        if "itemscope" not in attrs:
            stack.extend([c for c in child.iter() if c.is_element_node][::-1])


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
