"""What the crawler keeps of a parsed page besides its links, taken from one tree.

`read_document(tree, url, ...)` runs the readers a crawl asked for, in the
order the tree allows: schema.org data and metadata first (they read
`<script>` elements), then the main content and its Markdown and SimHash
(they never change the tree), and the visible text last, because it strips
the tree it reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from crawler.html import simhash as sim
from crawler.html.main_content import find_main
from crawler.html.markdown import html_to_markdown, link_text
from crawler.html.metadata import page_metadata
from crawler.html.parser import visible_text
from crawler.html.structured import find_types, structured_data


@dataclass(slots=True)
class Document:
    text: str | None = None  # visible text
    markdown: str | None = None  # the main content
    metadata: str | None = None  # JSON object
    simhash: int | None = None  # of the main content's text, signed for SQLite
    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # schema.org


def read_document(tree: LexborHTMLParser, url: str, *, text: bool, markdown: bool,
                  metadata: bool, schema_items: tuple[str, ...] = (),
                  indexable: bool = True) -> Document:
    """Read what is asked; a page that is not `indexable` (robots noindex) keeps only
    its schema.org items (which are like any extraction rule's items)."""
    doc = Document()
    objects = structured_data(tree) if schema_items or (metadata and indexable) else []
    doc.items = [(name, _item_data(obj)) for name, obj in find_types(objects, schema_items)]
    if not indexable:
        return doc
    if metadata:
        found = page_metadata(tree, url, objects)
        doc.metadata = json.dumps(found, ensure_ascii=False) if found else None
    if markdown:
        doc.markdown = html_to_markdown(tree, url, find_main(tree))
        value = sim.simhash(link_text(doc.markdown))
        doc.simhash = None if value is None else sim.to_signed(value)
    if text:
        doc.text = visible_text(tree)  # last: it strips the tree
    return doc


def _item_data(obj: dict[str, Any]) -> dict[str, Any]:
    """A schema.org object as an item: as the page gives it, without `@context`."""
    return {key: value for key, value in obj.items() if key != "@context"}
