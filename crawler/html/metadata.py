"""A page's metadata from every place a page states it, merged into one JSON object.

`page_metadata(tree, url)` reads the `<head>` (`<title>`, `<meta name>`,
OpenGraph `<meta property>`, Twitter cards, Dublin Core, `<link
rel=canonical>`, `<html lang>`) and the schema.org objects (JSON-LD, then
microdata) and returns the fields it found:

    title, description, author, published, modified, language, canonical,
    site_name, image, type, keywords

and `sources`, saying where each field came from. When sources disagree the
most specific one wins, in this order (first match wins):

- title: schema.org `headline`/`name` of the page's main object, `og:title`,
  `twitter:title`, `dc.title`, `<title>`
- description: `<meta name=description>`, `og:description`, schema.org
  `description`, `twitter:description`
- author: schema.org `author` (names joined by ", "), `<meta name=author>`,
  `article:author`, `dc.creator`
- published: schema.org `datePublished`, `article:published_time`, `<meta
  name=date|pubdate|...>`, `dc.date`
- modified: schema.org `dateModified`, `article:modified_time`,
  `og:updated_time`, `dcterms.modified`
- language: `<html lang>`, `<meta http-equiv=content-language>`, schema.org
  `inLanguage`, `og:locale`
- canonical: `<link rel=canonical>`, `og:url`, schema.org `url` (absolute)
- site_name: `og:site_name`, schema.org `publisher` or WebSite `name`,
  `application-name`
- image: `og:image`, `twitter:image`, schema.org `image` (absolute)
- type: the main schema.org object's `@type`, else `og:type`

The page's *main object* is its first schema.org object that is not site
furniture (WebSite, Organization, BreadcrumbList, ...). Dates become ISO
8601 UTC (`2026-03-14T08:30:00.000Z`) when they carry a time zone, a date
stays a date, and anything unreadable is kept as written. Languages are
BCP 47 with a hyphen (`en-GB`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from crawler.html import structured
from crawler.html.parser import css

FIELDS = ("title", "description", "author", "published", "modified", "language",
          "canonical", "site_name", "image", "type", "keywords")
MAX_VALUE = 2000  # characters kept of one field
# schema.org objects that describe the site, not the page.
_NOT_MAIN = frozenset({
    "WebSite", "Organization", "NewsMediaOrganization", "Corporation", "BreadcrumbList",
    "ListItem", "SiteNavigationElement", "WPHeader", "WPFooter", "WPSideBar", "SearchAction",
    "ImageObject", "Person", "Brand", "Offer", "AggregateRating", "Rating", "Logo",
})
_DATE_NAMES = ("date", "pubdate", "publishdate", "publish-date", "publish_date",
               "article.published", "sailthru.date", "parsely-pub-date", "dc.date",
               "dc.date.issued", "dcterms.created", "dcterms.issued")


def page_metadata(tree: LexborHTMLParser, url: str,
                  objects: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The page's metadata (see the module docstring); `objects` are its schema.org
    objects when the caller has read them already."""
    head = _head_values(tree)
    objects = structured.structured_data(tree) if objects is None else objects
    main = _main_object(objects)
    schema = _schema_values(main, objects)
    found: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name, candidates in _precedence(head, schema).items():
        for source, value in candidates:
            value = _clean(name, value, url)
            if value:
                found[name], sources[name] = value, source
                break
    if found:
        found["sources"] = sources
    return found


def _precedence(head: dict[str, str], schema: dict[str, Any]
                ) -> dict[str, list[tuple[str, Any]]]:
    """Each field's candidate values, best first, as (source, value)."""
    def h(*keys: str) -> list[tuple[str, Any]]:
        return [(_source(key), head.get(key)) for key in keys]

    def s(key: str) -> list[tuple[str, Any]]:
        return [("schema.org", schema.get(key))]

    return {
        "title": s("title") + h("og:title", "twitter:title", "dc.title", "<title>"),
        "description": h("description", "og:description") + s("description")
        + h("twitter:description", "dc.description"),
        "author": s("author") + h("author", "article:author", "dc.creator"),
        "published": s("published") + h("article:published_time", *_DATE_NAMES),
        "modified": s("modified") + h("article:modified_time", "og:updated_time",
                                      "dcterms.modified", "last-modified"),
        "language": h("<html lang>", "content-language") + s("language") + h("og:locale"),
        "canonical": h("<link canonical>", "og:url") + s("canonical"),
        "site_name": h("og:site_name") + s("site_name") + h("application-name"),
        "image": h("og:image", "twitter:image") + s("image"),
        "type": s("type") + h("og:type"),
        "keywords": s("keywords") + h("keywords", "news_keywords"),
    }


def _source(key: str) -> str:
    if key.startswith(("og:", "article:")):
        return "opengraph"
    if key.startswith("twitter:"):
        return "twitter"
    if key.startswith(("dc.", "dcterms.")):
        return "dublin-core"
    return "html" if key.startswith("<") else "meta"


# -- the head ------------------------------------------------------------------


def _head_values(tree: LexborHTMLParser) -> dict[str, str]:
    """`<meta>` values by lower-case name or property (the first of each), the title,
    `<html lang>` and the canonical link."""
    values: dict[str, str] = {}
    html = tree.root
    if html is not None and (lang := html.attributes.get("lang")):
        values["<html lang>"] = lang
    root = tree.head or html
    if root is None:
        return values
    for node in css(root, "meta, title, link[rel]"):
        attrs = node.attributes
        tag = node.tag
        if tag == "title":
            values.setdefault("<title>", node.text(deep=True) or "")
        elif tag == "link":
            if "canonical" in (attrs.get("rel") or "").lower().split():
                values.setdefault("<link canonical>", attrs.get("href") or "")
        else:
            key = attrs.get("property") or attrs.get("name") or attrs.get("http-equiv")
            content = attrs.get("content")
            if key and content:
                values.setdefault(key.strip().lower(), content)
    return values


# -- schema.org ----------------------------------------------------------------


def _main_object(objects: list[dict[str, Any]]) -> dict[str, Any]:
    for obj in objects:
        if set(structured.types_of(obj)) - _NOT_MAIN:
            return obj
    return {}


def _schema_values(main: dict[str, Any], objects: list[dict[str, Any]]) -> dict[str, Any]:
    site = next((o for o in objects if "WebSite" in structured.types_of(o)), {})
    publisher = main.get("publisher")
    types = structured.types_of(main)
    return {
        "title": main.get("headline") or main.get("name"),
        "description": main.get("description"),
        "author": _names(main.get("author") or main.get("creator")),
        "published": main.get("datePublished") or main.get("dateCreated")
        or main.get("uploadDate"),
        "modified": main.get("dateModified"),
        "language": main.get("inLanguage"),
        "canonical": main.get("url") or _id(main.get("mainEntityOfPage")),
        "site_name": _names(publisher) or site.get("name"),
        "image": _url(main.get("image")),
        "type": types[0] if types else None,
        "keywords": main.get("keywords"),
    }


def _names(value: Any) -> str | None:
    """A Person/Organization, a name, or a list of them, as "A, B"."""
    values = value if isinstance(value, list) else [value]
    names = []
    for one in values:
        name = one.get("name") if isinstance(one, dict) else one
        if isinstance(name, list):
            name = name[0] if name else None
        if isinstance(name, str) and name.strip():
            names.append(" ".join(name.split()))
    return ", ".join(dict.fromkeys(names)) or None


def _id(value: Any) -> Any:
    return value.get("@id") if isinstance(value, dict) else value


def _url(value: Any) -> Any:
    """An image: a URL, an ImageObject, or a list of either (the first)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl") or value.get("@id")
    return value


# -- values --------------------------------------------------------------------


def _clean(name: str, value: Any, url: str) -> Any:
    """A candidate value in the form stored, or None when it is no value."""
    if name == "keywords":
        return _keywords(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())[:MAX_VALUE]
    if not value:
        return None
    return _CLEANERS.get(name, _same)(value, url)


def _same(value: str, _url: str) -> str:
    return value


def _absolute(value: str, url: str) -> str:
    return urljoin(url, value)


def _language(value: str, _url: str) -> str:
    return value.replace("_", "-")


def _keywords(value: Any) -> list[str] | None:
    words = value if isinstance(value, list) else str(value or "").split(",")
    out = [" ".join(str(w).split()) for w in words if isinstance(w, str | int)]
    return [w for w in dict.fromkeys(out) if w][:50] or None


def iso_date(value: str, _url: str = "") -> str:
    """A date as ISO 8601: UTC when it has a time zone; a bare date stays a date;
    a time without a zone is kept without one; anything else as written."""
    text = value.strip()
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z")
                                       else text)
    except ValueError:
        try:
            stamp = parsedate_to_datetime(text)  # RFC 2822: "Tue, 19 Nov 2019 13:16:00 GMT"
        except (TypeError, ValueError, IndexError):
            return value
    if len(text) == 10 and text[4] == "-":
        return text  # a date: no time zone to convert
    if stamp.tzinfo is None:
        return stamp.strftime("%Y-%m-%dT%H:%M:%S")
    stamp = stamp.astimezone(UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


_CLEANERS: dict[str, Callable[[str, str], str]] = {
    "published": iso_date, "modified": iso_date, "canonical": _absolute, "image": _absolute,
    "language": _language,
}
