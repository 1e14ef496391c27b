"""Admission: which URLs enter the frontier, and under which drop reason the others go."""

from __future__ import annotations

from collections import Counter

import pytest

from crawler.config import ScopeConfig
from crawler.engine.admission import Admission, Scope
from crawler.hooks import Hooks
from crawler.html.parser import LinkColumns, parse_page
from crawler.models import Request
from crawler.urls import BASE_FORM, DEFAULT_FORM, Canonicalizer


class Seen:
    """The frontier as admission sees it: a set of canonical URLs."""

    def __init__(self, urls: set[str]) -> None:
        self.urls = set(urls)
        self.added: list[tuple[str, str]] = []

    def seen(self, url: str) -> bool:
        return url in self.urls

    def add(self, host: str, request: Request) -> bool:
        if request.url in self.urls:
            return False
        self.urls.add(request.url)
        self.added.append((host, request.url))
        return True


def admission(seen: set[str], *,
              max_depth: int | None = None) -> tuple[Admission, Seen, Counter[str]]:
    frontier, dropped = Seen(seen), Counter[str]()
    scope = ScopeConfig(allowed_domains=("127.0.0.1",), max_depth=max_depth)
    return Admission(scope, frontier, dropped=dropped, hooks=Hooks(), offer=lambda host: None,
                     form=DEFAULT_FORM), frontier, dropped


PARENT = Request("http://127.0.0.1:8000/", depth=0)


def test_a_link_already_seen_is_a_duplicate_without_being_canonicalized_again() -> None:
    admit, _, dropped = admission({"http://127.0.0.1:8000/a.html"})

    def no_canonical_form(url: str) -> tuple[str, str]:
        raise AssertionError(f"canonicalized {url} again")

    admit._canonical = no_canonical_form  # type: ignore[assignment]
    assert admit.schedule_url("http://127.0.0.1:8000/a.html", PARENT) == "duplicate"
    assert dropped == Counter(duplicate=1)


@pytest.mark.parametrize(("link", "reason"), [
    ("HTTP://127.0.0.1:8000/./a.html#top", "duplicate"),  # not as seen: canonicalized first
    ("mailto:someone@127.0.0.1", "scheme"),
    ("http://127.0.0.1:8000/new.html", None),
    ("http://elsewhere.invalid/", "offsite"),
])
def test_links_not_found_as_they_are_go_through_the_canonical_form(link: str,
                                                                    reason: str | None) -> None:
    admit, frontier, dropped = admission({"http://127.0.0.1:8000/a.html"})
    assert admit.schedule_url(link, PARENT) == reason
    if reason is None:
        assert frontier.added == [("http://127.0.0.1:8000", link)]
        assert not dropped
    else:
        assert dropped == Counter({reason: 1})


def test_a_link_past_max_depth_counts_as_too_deep_even_when_seen() -> None:
    # The order of the checks decides the counter: depth before duplicates, as before.
    admit, _, dropped = admission({"http://127.0.0.1:8000/a.html"}, max_depth=0)
    assert admit.schedule_url("http://127.0.0.1:8000/a.html", PARENT) == "max_depth"
    assert dropped == Counter(max_depth=1)


PAGE_LINKS = [
    "http://127.0.0.1:8000/a.html",            # seen
    "http://127.0.0.1:8000/new.html",          # new
    "http://127.0.0.1:8000/new.html",          # new, then a duplicate on the same page
    "HTTP://127.0.0.1:8000/./a.html#top",      # seen, once canonical
    "mailto:someone@127.0.0.1",
    "http://elsewhere.invalid/",
    "http://127.0.0.1:8000/b.html",            # seen
]


@pytest.mark.parametrize("max_depth", [None, 0])
def test_a_pages_links_scheduled_together_end_as_they_would_one_by_one(
        max_depth: int | None) -> None:
    together, together_frontier, together_dropped = admission(
        {"http://127.0.0.1:8000/a.html", "http://127.0.0.1:8000/b.html"}, max_depth=max_depth)
    alone, alone_frontier, alone_dropped = admission(
        {"http://127.0.0.1:8000/a.html", "http://127.0.0.1:8000/b.html"}, max_depth=max_depth)

    together.schedule_urls(PAGE_LINKS, PARENT)
    for link in PAGE_LINKS:
        alone.schedule_url(link, PARENT)

    assert together_frontier.added == alone_frontier.added
    assert together_dropped == alone_dropped
    if max_depth is None:
        assert together_frontier.added == [("http://127.0.0.1:8000",
                                            "http://127.0.0.1:8000/new.html")]
        assert together_dropped == Counter(duplicate=4, scheme=1, offsite=1)
    else:
        assert together_dropped == Counter(max_depth=6, scheme=1)  # depth before scope


def test_a_request_dropped_hook_hears_of_a_pages_links_in_page_order() -> None:
    heard: list[tuple[str, str]] = []
    frontier, dropped = Seen({"http://127.0.0.1:8000/a.html"}), Counter[str]()
    hooks = Hooks.of({"request_dropped": lambda url, reason: heard.append((url, reason))})
    admit = Admission(ScopeConfig(allowed_domains=("127.0.0.1",)), frontier, dropped=dropped,
                      hooks=hooks, offer=lambda host: None, form=DEFAULT_FORM)

    admit.schedule_urls(PAGE_LINKS[:5], PARENT)

    assert heard == [("http://127.0.0.1:8000/a.html", "duplicate"),
                     ("http://127.0.0.1:8000/new.html", "duplicate"),
                     ("http://127.0.0.1:8000/a.html", "duplicate"),
                     ("mailto:someone@127.0.0.1", "scheme")]


PAGE = b"""<html><body>
<a href="a.html">seen</a> <a href="new.html">new</a> <a href="./new.html">again</a>
<a href="mailto:someone@127.0.0.1">mail</a> <a href="http://elsewhere.invalid/x">off</a>
<a href="http://xn--bcher-kva.example/">idn</a> <a href="view?b=2&a=1">query</a>
</body></html>"""


def page_links(form: Canonicalizer) -> list[str]:
    page = parse_page(PAGE, "http://127.0.0.1:8000/", form=form)
    return list(dict.fromkeys(link.url or link.href for link in page.links))


@pytest.mark.parametrize("columns", [False, True])  # read on the loop, or in a reader
def test_a_pages_own_targets_are_admitted_without_the_canonical_form_and_end_the_same(
        columns: bool) -> None:
    page = parse_page(PAGE, "http://127.0.0.1:8000/", form=DEFAULT_FORM)
    if columns:
        page.links = LinkColumns(page.links)
    trusted, trusted_frontier, trusted_dropped = admission({"http://127.0.0.1:8000/a.html"})
    plain, plain_frontier, plain_dropped = admission({"http://127.0.0.1:8000/a.html"})
    links = page_links(DEFAULT_FORM)

    trusted.schedule_urls(links, PARENT, page)
    plain.schedule_urls(links, PARENT)

    assert trusted_frontier.added == plain_frontier.added
    assert ("http://127.0.0.1:8000", "http://127.0.0.1:8000/view?a=1&b=2") in \
        trusted_frontier.added
    assert trusted_dropped == plain_dropped == Counter(duplicate=1, scheme=1, offsite=2)
    # Only the refused href (mailto:) went through the canonical form.
    assert trusted._canonical.cache_info().misses == 1  # type: ignore[attr-defined]
    assert plain._canonical.cache_info().misses == 5  # type: ignore[attr-defined]


def test_targets_made_in_another_form_are_made_canonical_again() -> None:
    page = parse_page(PAGE, "http://127.0.0.1:8000/", form=BASE_FORM)  # query kept as written
    admit, frontier, _ = admission({"http://127.0.0.1:8000/a.html"})

    admit.schedule_urls(page_links(BASE_FORM), PARENT, page)

    added = [url for _, url in frontier.added]
    assert "http://127.0.0.1:8000/view?a=1&b=2" in added
    assert "http://127.0.0.1:8000/view?b=2&a=1" not in added


@pytest.mark.parametrize(("path", "reason"), [
    ("/a/b/c/d/e/f", None),                 # many segments, none repeated
    ("/a/b/a/b", None),                     # each twice: the limit
    ("/a/b/a/b/a", "repeated_segments"),    # "a" three times
    ("/x/a/y/a/z/a/w", "repeated_segments"),
    ("/a/a", None),
])
def test_a_path_naming_one_segment_more_often_than_allowed_is_a_trap(
        path: str, reason: str | None) -> None:
    scope = Scope(ScopeConfig(allowed_domains=("127.0.0.1",), max_repeated_segments=2))
    assert scope.refuse(f"http://127.0.0.1:8000{path}") == reason
