"""crawler.urls: the canonical form that deduplication compares, joining, host keys.

Pure string functions: no network (the hosts named here are never contacted).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.urls import (
    Rejected,
    canonicalize,
    canonicalize_plain,
    host_key,
    join,
    join_plain,
)


def test_canonicalize_lowercases_scheme_and_host() -> None:
    assert canonicalize("HTTP://Example.COM/Path") == "http://example.com/Path"


@pytest.mark.parametrize(("url", "expected"), [
    ("http://example.com:80/a", "http://example.com/a"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://127.0.0.1:8080/a", "http://127.0.0.1:8080/a"),
])
def test_canonicalize_drops_only_the_default_port(url: str, expected: str) -> None:
    assert canonicalize(url) == expected


def test_canonicalize_drops_the_fragment_and_keeps_the_query() -> None:
    assert canonicalize("http://example.com/a?x=1#part") == "http://example.com/a?x=1"


def test_canonicalize_resolves_dot_segments() -> None:
    assert canonicalize("http://example.com/a/./b/../c/d/..") == "http://example.com/a/c/"


def test_canonicalize_normalizes_percent_encoding() -> None:
    # unreserved characters are decoded, other escapes use upper-case hex
    assert canonicalize("http://example.com/%7Euser/a%2fb%c3%a9") == \
        "http://example.com/~user/a%2Fb%C3%A9"
    assert canonicalize("http://example.com/%7euser/") == canonicalize("http://example.com/~user/")


@pytest.mark.parametrize(("href", "expected"), [
    ("c", "http://127.0.0.1:8080/a/c"),
    ("../c#x", "http://127.0.0.1:8080/c"),
    ("/c?q=1", "http://127.0.0.1:8080/c?q=1"),
    ("//127.0.0.2:9/c", "http://127.0.0.2:9/c"),
    ("HTTP://127.0.0.3:7/./c", "http://127.0.0.3:7/c"),
])
def test_join_resolves_href_against_base_and_canonicalizes(href: str, expected: str) -> None:
    assert join("http://127.0.0.1:8080/a/b", href) == expected


@pytest.mark.parametrize(("href", "reason"), [
    ("mailto:someone@example.com", "scheme"),
    ("javascript:void(0)", "scheme"),
    ("tel:+15551234", "scheme"),
    ("ftp://127.0.0.1/file", "scheme"),
    ("data:text/html,<p>hi</p>", "scheme"),
    ("http://[::1", "invalid_url"),
    ("http://[", "invalid_url"),
    ("http://[zz::1]/", "invalid_url"),
    ("http://exa mple.com/", "invalid_url"),
    ("http://ex%ample.com/", "invalid_url"),
    ("http://a..b/", "invalid_url"),
    ("http://1.2.3.4.5/", "invalid_url"),
    ("http://999.1.1.1/", "invalid_url"),
    ("http://", "invalid_url"),
    ("https:///path-without-host", "invalid_url"),
])
def test_join_rejects_invalid_or_non_http_href_with_its_reason(href: str, reason: str) -> None:
    with pytest.raises(Rejected) as raised:
        join("http://127.0.0.1:8080/a/b", href)
    assert raised.value.reason == reason


def test_host_key_is_scheme_host_and_port() -> None:
    assert host_key("http://127.0.0.1:8080/x?y=1") == "http://127.0.0.1:8080"
    assert host_key("HTTP://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert host_key("http://127.0.0.1:8080/a") != host_key("http://127.0.0.1:8081/a")


def test_an_empty_path_canonicalizes_to_slash() -> None:
    assert canonicalize("http://127.0.0.1:8080") == canonicalize("http://127.0.0.1:8080/")
    assert canonicalize("http://127.0.0.1:8080?q=1") == "http://127.0.0.1:8080/?q=1"


# The fast string path must agree with the full yarl path on every href it accepts.
_HREF_CHARS = "abcXYZ019-._~/!$&'()*+,;=:@?#%. é"


@settings(max_examples=3000, deadline=None)
@given(href=st.text(alphabet=_HREF_CHARS, max_size=30),
       base_path=st.sampled_from(["/", "/a/b.html", "/a/b/", "/a/./b/c", "/x/y/z/w.html"]))
def test_plain_join_agrees_with_the_full_parser(href: str, base_path: str) -> None:
    base = "http://127.0.0.1:8080" + base_path
    directory = base_path.rpartition("/")[0]
    fast = join_plain("http://127.0.0.1:8080", directory, href)
    if fast is None:
        return
    try:
        slow = join(base, href)
    except Rejected:
        slow = None
    assert fast == slow, (base, href)


def test_plain_join_resolves_dot_segments_like_rfc_3986() -> None:
    origin = "http://h"
    assert join_plain(origin, "/a/b", "../c/./d.html#x") == "http://h/a/c/d.html"
    assert join_plain(origin, "/a/b", "..") == "http://h/a/"
    assert join_plain(origin, "", "../../x") == "http://h/x"
    assert join_plain(origin, "/a", "/p/./q?z=1") == "http://h/p/q?z=1"
    assert join_plain(origin, "/a", "mailto:x") is None


@settings(max_examples=3000, deadline=None)
@given(scheme=st.sampled_from(["http", "HTTP", "https", "hTtPs", "ftp"]),
       host=st.sampled_from(["127.0.0.1", "Example.COM", "a-b.c", "x", "a..b", "-a.b", "a.b.",
                             "1.2.3.4.5", "999.1.1.1", "a.b.9"]),
       port=st.sampled_from(["", ":80", ":443", ":8080", ":0080", ":", ":65536", ":99999", ":9"]),
       rest=st.text(alphabet=_HREF_CHARS, max_size=25))
def test_plain_canonicalize_agrees_with_the_full_parser(scheme: str, host: str, port: str,
                                                        rest: str) -> None:
    href = f"{scheme}://{host}{port}{rest}"
    fast = canonicalize_plain(href)
    if fast is None:
        return
    try:
        slow = join("http://127.0.0.1:8080/base/page.html", href)
    except Rejected:
        slow = None
    assert fast == slow, href


def test_plain_canonicalize_lowercases_and_drops_the_default_port() -> None:
    assert canonicalize_plain("HTTP://Example.COM:80/a/./b#x") == "http://example.com/a/b"
    assert canonicalize_plain("https://h:8443?q=1") == "https://h:8443/?q=1"
    assert canonicalize_plain("http://user@h/") is None
