"""Main content on pages in the shapes of real sites: what is kept, what is left out.

The pages and their labels are in tests/data/pages (benchmarks/extraction
scores the same pages). Each test names what a reader would expect.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.html.main_content import find_main
from crawler.html.markdown import html_to_markdown, plain_text

PAGES = Path(__file__).parent / "data" / "pages"
BASE = "https://site.example/section/page.html"


def markdown_of(name: str, base: str = BASE) -> str:
    return html_to_markdown(LexborHTMLParser((PAGES / f"{name}.html").read_bytes()), base)


def md(html: str) -> str:
    return html_to_markdown(LexborHTMLParser(html), BASE)


def f1(label: str, text: str) -> float:
    """Word 4-shingle F1, as benchmarks/extraction scores it."""
    def shingles(t: str) -> Counter[tuple[str, ...]]:
        words = re.findall(r"\w+", t)
        return Counter(tuple(words[i:i + 4]) for i in range(max(1, len(words) - 3)))
    want, got = shingles(label), shingles(text)
    tp = sum((want & got).values())
    precision = tp / max(1, sum(got.values()))
    recall = tp / max(1, sum(want.values()))
    return 2 * precision * recall / (precision + recall) if tp else 0.0


@pytest.mark.parametrize("name", sorted(p.stem for p in PAGES.glob("*.html")))
def test_each_labelled_page_matches_its_label(name: str) -> None:
    label = (PAGES / f"{name}.txt").read_text(encoding="utf-8")
    assert f1(label, plain_text(markdown_of(name))) >= 0.9


def test_a_news_article_keeps_its_story_and_leaves_the_furniture() -> None:
    text = markdown_of("news")
    assert text.startswith("# Harbour lighthouse returns to service after two-year restoration\n")
    assert "## A light for the fishing fleet" in text
    assert "> When the beam came round" in text
    assert "![The restored Fresnel lens](https://site.example/img/lens.jpg)" in text
    for furniture in ("cookies", "Share on", "Breaking", "Advertisement", "Holiday cottages",
                      "Read more", "Meg Tanaka", "Lighthouse goes dark", "Comments",
                      "More from the harbour", "SeaDog77", "Most read", "All rights reserved",
                      "Photo: Harbour Trust", "Quay Street"):
        assert furniture not in text, furniture


def test_a_blog_post_keeps_code_lists_and_tables() -> None:
    text = markdown_of("blog")
    assert "```python\ndef retry_later(request, tries, base=0.5, cap=60.0):\n" in text
    assert "1. Connection errors and timeouts" in text
    assert "2. Statuses `429`, `502`, `503` and `504`, honouring `Retry-After`." in text
    assert "| Attempt | Base delay | With jitter |\n| --- | --- | --- |\n| 1 | 0.5 s |" in text
    for furniture in ("Share this", "Related", "Back-off, explained", "About Sam",
                      "thoughts on", "Leave a Reply", "Recent Posts", "Posted in", "powered by"):
        assert furniture not in text, furniture


def test_a_docs_page_keeps_its_sections_and_drops_the_navigation() -> None:
    text = markdown_of("docs")
    assert text.startswith("# Configuration\n")
    assert '```\n[stations.calder]\ngauge = "PC-0042"' in text
    assert "| `interval` | 10m | How often to read each gauge |" in text
    assert "Station names are case-sensitive" in text
    for furniture in ("Installation", "Changelog", "Search docs", "Edit on GitHub", "Previous",
                      "Copyright"):
        assert furniture not in text, furniture


def test_a_forum_thread_keeps_every_post_and_not_the_forum() -> None:
    text = markdown_of("forum")
    assert text.startswith("# Best knot for a mooring line?\n")
    for post in ("I am leaving the boat", "Your neighbour has a point", "Round turn and two"):
        assert post in text
    assert "> a neighbour swears it shakes loose" in text
    for furniture in ("harbourmaster_jo", "Wren\", Port Calder", "Quote", "Quick reply",
                      "Similar threads", "Forum rules", "Log in"):
        assert furniture not in text, furniture


def test_a_product_page_keeps_title_price_description_and_specifications() -> None:
    text = markdown_of("product")
    assert text.startswith("# Brass Storm Lantern, 30 cm\n\n£64.00\n")
    assert "- Tank holds 0.5 litres of paraffin" in text
    assert "| Burn time | 20 hours |" in text
    for furniture in ("Customers also bought", "newsletter", "Free delivery", "Basket",
                      "Add to basket", "Home"):
        assert furniture not in text, furniture


def test_a_listing_is_not_an_article_so_its_links_are_the_content() -> None:
    main = find_main(LexborHTMLParser((PAGES / "listing.html").read_bytes()))
    assert main.article is False
    text = markdown_of("listing")
    for name, price in (("Brass Storm Lantern, 30 cm", "£64.00"), ("Steel Deck Light", "£38.50"),
                        ("Spare Cotton Wick", "£3.50"), ("Glass Chimney", "£12.00")):
        assert name in text and price in text
    assert "[## Steel Deck Light" not in text  # a heading inside a link is its text
    for furniture in ("Filter", "Brass (12)", "Next", "registered in England"):
        assert furniture not in text, furniture


@pytest.mark.parametrize(("name", "kept", "dropped"), [
    ("chinese", "工程师们更换了四十块灯室玻璃",
     ("分享到微博", "相关新闻", "热门排行", "版权所有", "来源")),
    ("arabic", "استبدل المهندسون أربعين لوحاً", ("شارك على", "التعليقات", "جميع الحقوق", "بقلم")),
])
def test_pages_in_other_scripts(name: str, kept: str, dropped: tuple[str, ...]) -> None:
    text = markdown_of(name)
    assert kept in text
    for furniture in dropped:
        assert furniture not in text, furniture


def test_a_page_without_a_body_or_text_has_no_content() -> None:
    assert md("<html><head><title>Only a title</title></head></html>") == ""
    assert md("<html><body><nav><a href='/'>Home</a></nav></body></html>") == ""
    assert md("") == ""


def test_a_short_page_keeps_its_little_text() -> None:
    assert md("<body><p>Hello there.</p></body>") == "Hello there.\n"
    assert md("<body><div>Just a line of text</div></body>") == "Just a line of text\n"


def test_broken_markup_still_yields_the_text() -> None:
    html = ("<html><body><div class=article><p>First paragraph of the story, unclosed"
            "<p>Second <b>bold <i>both</b> italic?</i> paragraph.</span></em></li>"
            "<p>Third, after stray closing tags.<table><tr><td>a cell<td>another cell"
            "</table></div></div></div></body><p>Text after the body.")
    text = md(html)
    for piece in ("First paragraph of the story, unclosed", "Second **bold *both***",
                  "Third, after stray closing tags.", "a cell", "another cell"):
        assert piece in text


def test_a_5_mb_page_is_read_whole_in_bounded_time() -> None:
    paragraph = "<p>The harbour wall keeps the sea out of the town, most winters. </p>" * 4
    html = ("<html><body><nav>" + "<a href='/x'>menu</a>" * 200 + "</nav><article>"
            + "".join(f"<h2>Part {i}</h2>{paragraph}" for i in range(20_000))
            + "<p>The very last line.</p></article></body></html>")
    assert len(html) > 5_000_000
    tree = LexborHTMLParser(html)
    start = time.process_time()
    text = html_to_markdown(tree, BASE)
    # Bounded: roughly linear (~1-2 s of CPU on the project's machine; a quadratic
    # walk would take minutes).
    assert time.process_time() - start < 30
    assert text.startswith("## Part 0\n\nThe harbour wall")
    assert text.endswith("The very last line.\n") and "menu" not in text
    assert text.count("## Part ") == 20_000
