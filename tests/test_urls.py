"""crawler.urls: the canonical form that deduplication compares, joining, host keys.

Pure string functions: no network (the hosts named here are never contacted).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.config.model import TRACKING_PARAMS
from crawler.urls import (
    BASE_FORM,
    DEFAULT_FORM,
    Canonicalizer,
    Rejected,
    canonicalize,
    canonicalize_plain,
    domain_allowed,
    host_in_key,
    host_key,
    host_of,
    join,
    join_plain,
    plain_host_key,
)
from tests.conftest import make_config


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


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/x", "https://Example.COM/", "http://[::1]:8080/", "http://[::1]/",
    "http://b\u00fccher.example/", "http://xn--bcher-kva.example:81/a", "https://a.b.c./"])
def test_the_host_in_a_host_key_is_the_urls_host(url: str) -> None:
    assert host_in_key(host_key(url)) == host_of(url)


def test_an_empty_path_canonicalizes_to_slash() -> None:
    assert canonicalize("http://127.0.0.1:8080") == canonicalize("http://127.0.0.1:8080/")
    assert canonicalize("http://127.0.0.1:8080?q=1") == "http://127.0.0.1:8080/?q=1"


# The fast string path must agree with the full yarl path on every href it accepts.
_HREF_CHARS = "abcXYZ019-._~/!$&'()*+,;=:@?#%. é中😀\u00a0"


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
                             "1.2.3.4.5", "999.1.1.1", "a.b.9", "xn--bcher-kva.de",
                             "www.XN--Bcher-kva.de"]),
       port=st.sampled_from(["", ":80", ":443", ":8080", ":0080", ":", ":65536", ":99999", ":9",
                             ":52247", ":65535", ":123456"]),
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
    assert plain_host_key(fast) == host_key(fast), href


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/x", "https://Example.COM/", "http://[::1]:8080/", "http://[::1]/",
    "http://b\u00fccher.example/", "http://xn--bcher-kva.example:81/a", "http://u:p@a.com/",
    "https://a.b.c./?q=1"])
def test_the_host_key_of_any_canonical_url_by_string_operations_is_host_keys(url: str) -> None:
    # A page's link targets are admitted by it without yarl: punycode, IPv6 and user
    # info must still give the key the politeness gate knows the host by.
    assert plain_host_key(canonicalize(url)) == host_key(url)


def test_plain_canonicalize_lowercases_and_drops_the_default_port() -> None:
    assert canonicalize_plain("HTTP://Example.COM:80/a/./b#x") == "http://example.com/a/b"
    assert canonicalize_plain("https://h:8443?q=1") == "https://h:8443/?q=1"
    assert canonicalize_plain("http://user@h/") is None


# ---- the crawl's form: query parameters sorted, tracking parameters dropped ----

def reference_query_order(query: str) -> str:
    """Query parameters grouped by name, names in code-point order, each name's values
    in the order written; empty parameters left out. (Written without a stable sort.)"""
    by_name: dict[str, list[str]] = {}
    for pair in query.split("&"):
        if pair:
            by_name.setdefault(pair.split("=", 1)[0], []).append(pair)
    return "&".join(pair for name in sorted(by_name) for pair in by_name[name])


_QUERY = st.lists(st.tuples(st.sampled_from(["a", "b", "B", "a_b", "ab", "id", "cat", "x-y", ""]),
                            st.sampled_from(["", "=", "=1", "=2", "=a%20b", "=x=y", "=~"])),
                  max_size=8).map(lambda pairs: "&".join(name + value for name, value in pairs))


@settings(max_examples=2000, deadline=None)
@given(query=_QUERY)
def test_query_parameters_are_sorted_by_name_keeping_the_order_of_repeated_names(
        query: str) -> None:
    url = "http://127.0.0.1:8080/view?" + query
    expected = reference_query_order(canonicalize(url).partition("?")[2])
    got = DEFAULT_FORM.canonicalize(url)
    assert got.partition("?")[2] == expected
    assert got == ("http://127.0.0.1:8080/view" + (f"?{expected}" if expected else ""))
    assert DEFAULT_FORM.apply(got) == got  # canonical URLs are a fixed point


@settings(max_examples=500, deadline=None)
@given(pairs=st.lists(st.tuples(st.sampled_from(["a", "b", "cat", "id", "z"]),
                                st.sampled_from(["1", "2", "3"])),
                      unique_by=lambda pair: pair[0], min_size=1, max_size=5),
       data=st.data())
def test_any_order_of_distinct_parameters_is_one_canonical_url(pairs, data) -> None:
    shuffled = data.draw(st.permutations(pairs))
    def url(ps) -> str:
        return "http://127.0.0.1:8080/v?" + "&".join(f"{k}={v}" for k, v in ps)
    assert DEFAULT_FORM.canonicalize(url(pairs)) == DEFAULT_FORM.canonicalize(url(shuffled))


def test_repeated_names_keep_their_order() -> None:
    assert DEFAULT_FORM.canonicalize("http://h/v?b=2&a=1&b=1") == "http://h/v?a=1&b=2&b=1"
    assert DEFAULT_FORM.canonicalize("http://h/v?cat=3&id=7") == \
        DEFAULT_FORM.canonicalize("http://h/v?id=7&cat=3#x") == "http://h/v?cat=3&id=7"


def test_without_sorting_or_dropping_the_form_is_the_base_form() -> None:
    for url in ("http://h/v?b=2&a=1&&b=1", "http://h/v?&", "http://h/v;jsessionid=1?sid=2"):
        assert BASE_FORM.canonicalize(url) == canonicalize(url)


@settings(max_examples=2000, deadline=None)
@given(href=st.text(alphabet=_HREF_CHARS, max_size=30),
       base_path=st.sampled_from(["/", "/a/b.html", "/x/y/z/w.html"]),
       form=st.sampled_from([DEFAULT_FORM, BASE_FORM,
                             Canonicalizer(drop=TRACKING_PARAMS),
                             Canonicalizer(sort_query=False, drop=("b*", "c"))]))
def test_plain_join_agrees_with_the_full_parser_in_every_form(
        href: str, base_path: str, form: Canonicalizer) -> None:
    directory = base_path.rpartition("/")[0]
    fast = form.join_plain("http://127.0.0.1:8080", directory, href)
    if fast is None:
        return
    try:
        slow = form.join("http://127.0.0.1:8080" + base_path, href)
    except Rejected:
        slow = None
    assert fast == slow, (base_path, href)


@pytest.mark.parametrize("name", [
    "utm_source", "utm_medium", "utm_campaign", "UTM_Content", "fbclid", "gclid", "msclkid",
    "mc_eid", "jsessionid", "PHPSESSID", "sid", "sessionid"])
def test_the_default_tracking_list_drops_campaign_click_and_session_parameters(
        name: str) -> None:
    form = Canonicalizer(drop=TRACKING_PARAMS)
    assert form.canonicalize(f"http://h/p?id=7&{name}=x1&a=2") == "http://h/p?a=2&id=7"
    assert form.canonicalize(f"http://h/p?{name}=x1") == "http://h/p"
    assert form.canonicalize(f"http://h?{name}=x1") == "http://h/"


@pytest.mark.parametrize("name", ["id", "page", "q", "sort", "ref", "sidebar", "utm", "cat"])
def test_the_default_tracking_list_keeps_parameters_that_name_content(name: str) -> None:
    form = Canonicalizer(drop=TRACKING_PARAMS)
    assert form.canonicalize(f"http://h/p?{name}=1") == f"http://h/p?{name}=1"


def test_dropped_session_ids_leave_the_path_too() -> None:
    form = Canonicalizer(drop=("jsessionid",))
    assert form.canonicalize("http://h/a;jsessionid=AB12/b;JSESSIONID=x?id=1") == \
        "http://h/a/b?id=1"
    assert form.canonicalize("http://h/a;v=2?id=1") == "http://h/a;v=2?id=1"


def test_drop_params_reads_true_as_the_documented_list_and_globs_case_insensitively() -> None:
    on = make_config(["http://127.0.0.1/"], urls={"drop_params": True}).urls
    assert on.drop_params == TRACKING_PARAMS
    assert make_config(["http://127.0.0.1/"]).urls.drop_params == ()
    own = Canonicalizer(drop=make_config(["http://127.0.0.1/"],
                                         urls={"drop_params": ["ref", "x_*"]}).urls.drop_params)
    assert own.canonicalize("http://h/p?X_A=1&ref=2&utm_source=3") == "http://h/p?utm_source=3"


def test_every_tracking_parameter_is_named_in_the_readme() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    missing = [name for name in TRACKING_PARAMS if f"`{name}`" not in readme]
    assert not missing


@pytest.mark.parametrize(("host", "subdomains", "allowed"), [
    ("example.com", False, True), ("example.com", True, True),
    ("www.example.com", True, True), ("a.b.example.com", True, True),
    ("www.example.com", False, False),
    ("badexample.com", True, False),  # a suffix, not a subdomain
    ("example.org", True, True),  # the second domain allowed
    ("example.net", True, False),
])
def test_a_host_is_allowed_when_it_is_or_sits_below_an_allowed_domain(
        host: str, subdomains: bool, allowed: bool) -> None:
    assert domain_allowed(host, ("example.com", "example.org"),
                          subdomains=subdomains) is allowed
    assert domain_allowed(host, (), subdomains=subdomains)  # no list: everything
