"""html_to_markdown: the main content of a page as simple Markdown, without the furniture."""

from __future__ import annotations

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.html.markdown import html_to_markdown
from tests.dbsite import SiteDB, site_db


def md(html: str, base_url: str | None = None) -> str:
    return html_to_markdown(LexborHTMLParser(html), base_url)


FURNITURE = """<html><head><title>T</title><style>.x { color: red }</style>
<script>track()</script></head><body>
<header><a href="/">Site logo</a></header>
<nav><a href="/a">Menu A</a><a href="/b">Menu B</a></nav>
{content}
<aside>Related posts</aside>
<footer>Copyright 2026</footer>
</body></html>"""


@pytest.mark.parametrize("content", [
    "<main><h1>Title</h1><p>Body text.</p></main>",
    "<article><h1>Title</h1><p>Body text.</p></article>",
    '<div role="main"><h1>Title</h1><p>Body text.</p></div>',
    "<div><h1>Title</h1><p>Body text.</p></div>",  # no marker: body minus furniture
])
def test_main_content_without_navigation_or_boilerplate(content: str) -> None:
    assert md(FURNITURE.replace("{content}", content)) == "# Title\n\nBody text.\n"


def test_main_wins_over_the_rest_of_the_body() -> None:
    html = "<body><p>Teaser outside</p><main><p>Inside main</p></main></body>"
    assert md(html) == "Inside main\n"


def test_headers_inside_articles_are_content_when_falling_back_to_the_body() -> None:
    html = ("<body><header>Banner</header><article><header><h2>One</h2></header><p>1</p>"
            "</article><article><h2>Two</h2><p>2</p></article></body>")
    assert md(html) == "## One\n\n1\n\n## Two\n\n2\n"


def test_headings_paragraphs_and_emphasis() -> None:
    html = ("<main><h2>Sub <em>title</em></h2><p>Plain  and\n <strong> bold </strong>"
            "and <i>italic</i> and <del>gone</del>.</p><h6>Small</h6></main>")
    assert md(html) == ("## Sub *title*\n\nPlain and **bold** and *italic* and ~~gone~~.\n\n"
                        "###### Small\n")


def test_links_and_images_resolved_against_the_base_url() -> None:
    html = ('<main><p>See <a href="/docs/x">the docs</a>, <a href="#top">top</a> and '
            '<a href="javascript:void(0)">js</a>. <img src="img/a.png" alt="A picture"></p>'
            "</main>")
    assert md(html, "http://example.org/page/") == (
        "See [the docs](http://example.org/docs/x), top and js. "
        "![A picture](http://example.org/page/img/a.png)\n")
    assert md('<main><a href="/x">x</a></main>') == "[x](/x)\n"


def test_lists_nested_and_numbered() -> None:
    html = ('<main><ul><li>one</li><li>two<ul><li>two a</li></ul></li></ul>'
            '<ol start="3"><li>three</li><li>four</li></ol></main>')
    assert md(html) == "- one\n- two\n  - two a\n\n3. three\n4. four\n"


def test_code_inline_and_fenced_with_language() -> None:
    html = ('<main><p>Call <code>crawl()</code> or <code>a`b</code>.</p>'
            '<pre><code class="language-python">def f():\n    return "*x*"\n</code></pre></main>')
    assert md(html) == ('Call `crawl()` or ``a`b``.\n\n'
                        '```python\ndef f():\n    return "*x*"\n```\n')


def test_tables_blockquotes_and_rules() -> None:
    html = ("<main><table><thead><tr><th>Name</th><th>Price</th></tr></thead><tbody>"
            "<tr><td>Lamp</td><td>12|50</td></tr><tr><td>Rope</td></tr></tbody></table>"
            "<hr><blockquote><p>Quoted</p><p>twice</p></blockquote></main>")
    assert md(html) == ("| Name | Price |\n| --- | --- |\n| Lamp | 12\\|50 |\n| Rope |  |\n\n"
                        "---\n\n> Quoted\n>\n> twice\n")


def test_line_breaks_and_markdown_characters_in_text() -> None:
    html = "<main><p>first line<br>second_line with *stars*</p></main>"
    assert md(html) == "first line\nsecond\\_line with \\*stars\\*\n"


def test_scripts_styles_forms_and_hidden_elements_never_appear() -> None:
    html = ("<main><p>Visible</p><script>var secret = 1;</script><style>p {}</style>"
            '<div hidden>hidden attr</div><p style="display: none">display none</p>'
            '<p aria-hidden="true">aria</p><input value="typed"><button>Click</button>'
            "<noscript>enable js</noscript></main>")
    assert md(html) == "Visible\n"


def test_the_tree_is_not_changed() -> None:
    tree = LexborHTMLParser(FURNITURE.replace("{content}", "<div><p>x</p></div>"))
    before = tree.html
    html_to_markdown(tree)
    assert tree.html == before
    assert tree.css_first("nav") is not None


def test_empty_and_very_deep_documents() -> None:
    assert md("") == ""
    assert md("<main>   </main>") == ""
    deep = "<div>" * 3000 + "deep text" + "</div>" * 3000
    assert md(deep) == "deep text\n"


def test_a_real_crawl_stores_markdown_when_asked(tmp_path_factory: pytest.TempPathFactory
                                                 ) -> None:
    db: SiteDB = site_db(tmp_path_factory)
    (markdown,) = db.rows(f"SELECT markdown FROM pages WHERE url = '{db.url('/product/1')}'")[0]
    assert markdown.startswith("# Lamp\n\n12.50\n\n- light\n- brass\n\n- [back](")
    assert "Footer boilerplate" not in markdown and "tracking" not in markdown


def test_headings_that_name_furniture_leave_an_article() -> None:
    body = "".join(f"<p>Paragraph {i} of a long enough article, with commas, and more.</p>"
                   for i in range(6))
    html = (f"<body><article><h1>Story</h1>{body}<h2>Related articles</h2><ul>"
            '<li><a href="/a">Another story</a></li><li><a href="/b">And another</a></li></ul>'
            "<h3>Comments (2)</h3><h2>What happened next</h2><p>The end.</p></article></body>")
    text = md(html)
    assert "## What happened next" in text and "The end." in text
    assert "Related" not in text and "Comments" not in text and "Another story" not in text
