"""Admission: which URLs enter the frontier, and under which drop reason the others go."""

from __future__ import annotations

from collections import Counter

import pytest

from crawler.config import ScopeConfig
from crawler.engine.admission import Admission
from crawler.hooks import Hooks
from crawler.models import Request
from crawler.urls import DEFAULT_FORM


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
