"""Which pages are rendered: the auto guess, what it learns, and the per-request mode."""

from __future__ import annotations

from crawler.fetch.auto import (
    HOST_SAMPLE,
    SAMPLE,
    Learner,
    Shape,
    has_scripts,
    looks_script_built,
    pattern_of,
    shape_of,
)
from crawler.fetch.build import build_fetcher
from crawler.html.parser import parse_page
from crawler.models import Request
from tests.conftest import make_config

WORDS = " ".join(f"word{n}" for n in range(60))
NAV = "".join(f"<a href='/p{n}'>p{n}</a>" for n in range(5))


def shape(html: str) -> Shape:
    return shape_of(parse_page(html.encode(), "http://127.0.0.1/x"))


def test_an_empty_app_root_with_a_script_looks_script_built() -> None:
    page = shape(f"<body><nav>{NAV}</nav><p>{WORDS}</p><div id='root'></div>"
                 "<script src='/a.js'></script></body>")
    assert page.empty_app_root and looks_script_built(page)


def test_a_noscript_asking_for_javascript_looks_script_built() -> None:
    page = shape(f"<body><p>{WORDS}</p>{NAV}<noscript>You need to enable JavaScript to run "
                 "this app.</noscript><script>x()</script></body>")
    assert page.asks_for_js and looks_script_built(page)


def test_little_text_or_no_links_with_scripts_looks_script_built() -> None:
    assert looks_script_built(shape(f"<body>{NAV}<p>hello</p><script></script></body>"))
    assert looks_script_built(shape(f"<body><p>{WORDS}</p><script></script></body>"))


def test_a_page_with_text_and_links_does_not_and_one_without_scripts_never_does() -> None:
    assert not looks_script_built(shape(f"<body>{NAV}<p>{WORDS}</p><script></script></body>"))
    assert not looks_script_built(shape("<body><div id='app'></div></body>"))
    assert not has_scripts(b"<html><body><p>static</p></body></html>")
    assert has_scripts(b"<html><body><SCRIPT>x</SCRIPT></body></html>")


def test_script_text_is_not_counted_as_page_text() -> None:
    page = shape(f"<body>{NAV}<script>var s = '{WORDS}';</script></body>")
    assert page.text < 50


def test_url_patterns_generalise_numbers_and_the_last_segment() -> None:
    assert pattern_of("http://a.com/shop/item/12") == pattern_of("http://a.com/shop/item/13")
    assert pattern_of("http://a.com/p2/x") == pattern_of("http://a.com/p3/y")
    assert pattern_of("http://a.com/shop/x") != pattern_of("http://a.com/blog/x")
    assert pattern_of("http://a.com/x") != pattern_of("http://b.com/x")


EMPTY = Shape(text=10, links=0, scripts=1, empty_app_root=True, asks_for_js=False)
FULL = Shape(text=5000, links=30, scripts=1, empty_app_root=False, asks_for_js=False)
STATIC = Shape(text=5000, links=30, scripts=1, empty_app_root=False, asks_for_js=False)


def test_a_pattern_whose_renders_found_nothing_is_not_rendered_again() -> None:
    learner = Learner()
    for n in range(SAMPLE):
        assert learner.should_render(f"http://a.com/x/{n}", EMPTY)
        learner.learn(f"http://a.com/x/{n}", EMPTY, EMPTY)
    assert not learner.should_render("http://a.com/x/99", EMPTY)
    assert learner.should_render("http://a.com/other/1", EMPTY)  # another pattern


def test_a_pattern_whose_renders_found_more_is_rendered_even_when_it_looks_static() -> None:
    learner = Learner()
    assert not learner.should_render("http://a.com/x/1", STATIC)
    for n in range(SAMPLE):
        learner.learn(f"http://a.com/x/{n}", EMPTY, FULL)
    assert learner.should_render("http://a.com/x/99", STATIC)
    assert not learner.should_render("http://a.com/y/1", STATIC)


def test_a_host_whose_renders_all_found_nothing_is_given_up() -> None:
    learner = Learner()
    for n in range(HOST_SAMPLE):
        learner.learn(f"http://a.com/d{'x' * n}/1", EMPTY, EMPTY)
    assert not learner.should_render("http://a.com/new/1", EMPTY)
    assert learner.should_render("http://b.com/new/1", EMPTY)


def mode(request: Request, **fetch: object) -> str:
    config = make_config(["http://127.0.0.1/"], fetch=fetch)
    return build_fetcher(config).mode(request)


def test_the_mode_comes_from_meta_then_render_match_then_hosts_then_render() -> None:
    url = "http://127.0.0.1/app/1"
    assert mode(Request(url)) == "never"
    assert mode(Request(url, meta={"render": True})) == "always"
    assert mode(Request(url, meta={"render": False}), render="always") == "never"
    assert mode(Request(url), render="always", render_match=["/app/"]) == "always"
    assert mode(Request("http://127.0.0.1/blog/1"), render="always",
                render_match=["/app/"]) == "never"
    assert mode(Request(url), render="auto", render_hosts={"127.0.0.*": "always"}) == "always"
    assert mode(Request(url), render="always", render_hosts={"x.com": "never"}) == "always"


def test_a_crawl_that_never_renders_does_not_import_playwright() -> None:
    import subprocess
    import sys

    code = ("import sys, asyncio, crawler\n"
            "from crawler.fetch.build import build_fetcher\n"
            "from tests.conftest import make_config\n"
            "f = build_fetcher(make_config(['http://127.0.0.1/']))\n"
            "asyncio.run(f.open()); asyncio.run(f.close())\n"
            "print('playwright' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(__import__("tests.conftest").conftest.REPO))
    assert out.stdout.strip() == "False"
