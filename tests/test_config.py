"""Configuration: defaults, YAML loading, overrides, and errors that name the file and line."""

from __future__ import annotations

import dataclasses
import json
import re
import textwrap
from pathlib import Path

import pytest

from crawler.config import (
    DEFAULT_USER_AGENT,
    CrawlConfig,
    ExtractRule,
    FetchConfig,
    FieldRule,
    HostRule,
    LimitsConfig,
    PolitenessConfig,
    ScopeConfig,
    StoreConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    parse_overrides,
)
from crawler.config.checks import duration, key, keys_of
from crawler.config.reference import check_shown, rows, table, table_in
from crawler.errors import ConfigError
from crawler.units import parse_duration, parse_size

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str, name: str = "x.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load_error(path: Path, overrides: tuple[str, ...] = ()) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides)
    return caught.value


# --------------------------------------------------------------------------- units

@pytest.mark.parametrize(("text", "expected"), [
    ("10MB", 10 * 1024**2), ("512KB", 512 * 1024), ("1.5MiB", 1536 * 1024), ("100", 100),
    (100, 100), ("2 gb", 2 * 1024**3), ("7B", 7), ("1kib", 1024), (" 3 K ", 3072), ("0", 0),
    (1536.0, 1536), ("1GiB", 1024**3),
])
def test_parse_size_reads_bytes_with_binary_units(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["-1MB", -5, "ten", "10XB", "", "MB", "1.2.3KB", True,
                                 float("inf"), None, [1]])
def test_parse_size_rejects_negative_and_unreadable_values_listing_valid_forms(bad: object
                                                                                ) -> None:
    with pytest.raises(ValueError, match=r"'10MB', '512KB'"):
        parse_size(bad)  # type: ignore[arg-type]


def test_parse_size_says_negative_when_negative() -> None:
    with pytest.raises(ValueError, match="cannot be negative"):
        parse_size("-1MB")


@pytest.mark.parametrize(("text", "expected"), [
    ("30s", 30.0), ("30m", 1800.0), ("2h", 7200.0), ("1h30m", 5400.0), ("1h 30m", 5400.0),
    ("500ms", 0.5), ("1.5", 1.5), (10, 10.0), (0.25, 0.25), ("1d", 86400.0), ("2.5S", 2.5),
    ("0", 0.0), ("1m30s250ms", 90.25), (".5s", 0.5),
])
def test_parse_duration_reads_seconds(text: str | float, expected: float) -> None:
    assert parse_duration(text) == pytest.approx(expected)
    assert isinstance(parse_duration(text), float)


@pytest.mark.parametrize("bad", ["-5s", -1, "abc", "5x", "h", "30 minutes", "", True,
                                 float("nan"), None, "1h-30m"])
def test_parse_duration_rejects_negative_and_unreadable_values_listing_valid_forms(
        bad: object) -> None:
    with pytest.raises(ValueError, match=r"'30s', '30m', '2h'"):
        parse_duration(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- defaults and loading

def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: tiny
        start_urls: ["https://books.toscrape.com/"]
    """)
    config = load_config(path)
    assert config == CrawlConfig(
        name="tiny", start_urls=("https://books.toscrape.com/",), source=str(path),
        scope=ScopeConfig(allowed_domains=("books.toscrape.com",)))
    assert config.output_path == "tiny.db"
    assert config.fetch == FetchConfig()
    assert config.fetch.user_agent == DEFAULT_USER_AGENT == "crawler/0.1"
    assert config.fetch.max_body_size == 10 * 1024 * 1024
    assert config.politeness.rule_for("books.toscrape.com") == (2, 0.25)
    assert config.limits == LimitsConfig(max_pages=None, max_duration=None)
    assert config.store == StoreConfig(body=True, text=True, links=True)
    assert config.extract == ()


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = write(tmp_path, 'start_urls: ["https://a.example/"]\n', name="shop.yaml")
    config = load_config(path)
    assert config.name == "shop"
    assert config.output_path == "shop.db"


def test_allowed_domains_default_to_start_url_hosts_lower_case_without_port(
        tmp_path: Path) -> None:
    path = write(tmp_path, """
        start_urls:
          - https://Books.ToScrape.com:8443/a
          - http://books.toscrape.com/b
          - https://quotes.toscrape.com/
    """)
    assert load_config(path).scope.allowed_domains == ("books.toscrape.com",
                                                       "quotes.toscrape.com")


def test_explicit_allowed_domains_are_kept_and_lower_cased(tmp_path: Path) -> None:
    path = write(tmp_path, """
        start_urls: ["https://books.toscrape.com/"]
        scope: {allowed_domains: [Example.COM, .other.org]}
    """)
    assert load_config(path).scope.allowed_domains == ("example.com", "other.org")


def test_every_section_is_read_with_durations_sizes_and_patterns(tmp_path: Path) -> None:
    path = write(tmp_path, r"""
        name: full
        start_urls: "https://x.example/"
        output: out/full.db
        scope:
          allow_subdomains: false
          include: ['/catalogue/']
          exclude: ['\?sort=', '/login']
          max_depth: 0
        limits: {max_pages: 5000, max_duration: 1h30m}
        politeness:
          robots_txt: ignore
          per_host_concurrency: 3
          per_host_delay: 500ms
          hosts:
            "*.Example.com": {concurrency: 4, delay: 0}
            slow.org: {delay: 2s}
        fetch:
          concurrency: 8
          timeout: 1m
          connect_timeout: 2.5
          max_body_size: 1.5MiB
          user_agent: "bot/1 (+https://x.example/bot)"
          headers: {Accept-Language: en, X-Token: "42"}
          parse_in_thread_above: 0
          read_timeout: 5s
          max_redirects: 0
        store: {body: false, text: true, links: false, non_html: skip}
    """)
    config = load_config(path)
    assert config.start_urls == ("https://x.example/",)
    assert config.output_path == "out/full.db"
    assert config.scope == ScopeConfig(
        allowed_domains=("x.example",), allow_subdomains=False,
        include=(re.compile("/catalogue/"),), exclude=(re.compile(r"\?sort="),
                                                        re.compile("/login")), max_depth=0)
    assert config.limits == LimitsConfig(max_pages=5000, max_duration=5400.0)
    assert config.politeness == PolitenessConfig(
        robots_txt="ignore", per_host_concurrency=3, per_host_delay=0.5,
        hosts=(HostRule(pattern="*.example.com", concurrency=4, delay=0.0),
               HostRule(pattern="slow.org", delay=2.0)))
    assert config.fetch == FetchConfig(
        concurrency=8, timeout=60.0, connect_timeout=2.5, max_body_size=1536 * 1024,
        user_agent="bot/1 (+https://x.example/bot)",
        headers=(("Accept-Language", "en"), ("X-Token", "42")), parse_in_thread_above=0,
        read_timeout=5.0, max_redirects=0)
    assert config.store == StoreConfig(body=False, text=True, links=False, non_html="skip")


def test_robots_settings_are_read_with_their_defaults(tmp_path: Path) -> None:
    default = PolitenessConfig()
    assert (default.robots_agent, default.robots_ttl, default.robots_tries,
            default.robots_backoff, default.robots_max_backoff,
            default.max_crawl_delay) == (None, 86400.0, 5, 10.0, 300.0, 30.0)
    path = write(tmp_path, """
        start_urls: ["https://x.example/"]
        politeness:
          robots_agent: My_Bot-x
          robots_ttl: 1h
          robots_tries: 2
          robots_backoff: 500ms
          robots_max_backoff: 1m
          max_crawl_delay: 0
    """)
    politeness = load_config(path).politeness
    assert (politeness.robots_agent, politeness.robots_ttl, politeness.robots_tries,
            politeness.robots_backoff, politeness.robots_max_backoff,
            politeness.max_crawl_delay) == ("My_Bot-x", 3600.0, 2, 0.5, 60.0, 0.0)


def test_page_directive_settings_are_read_with_their_defaults(tmp_path: Path) -> None:
    default = PolitenessConfig()
    assert (default.noindex, default.nofollow, default.rel_nofollow) == (
        "obey", "obey", "follow")
    path = write(tmp_path, """
        start_urls: ["https://x.example/"]
        politeness: {noindex: Ignore, nofollow: ignore, rel_nofollow: skip}
    """)
    politeness = load_config(path).politeness
    assert (politeness.noindex, politeness.nofollow, politeness.rel_nofollow) == (
        "ignore", "ignore", "skip")


def test_adaptive_throttling_settings_are_read_with_their_defaults(tmp_path: Path) -> None:
    default = PolitenessConfig()
    assert (default.adaptive, default.target_concurrency, default.max_delay) == (
        False, 1.0, 60.0)
    path = write(tmp_path, """
        start_urls: ["https://x.example/"]
        politeness: {adaptive: true, target_concurrency: 2, max_delay: 10s}
    """)
    politeness = load_config(path).politeness
    assert (politeness.adaptive, politeness.target_concurrency, politeness.max_delay) == (
        True, 2.0, 10.0)


def test_null_means_unlimited_for_optional_limits(tmp_path: Path) -> None:
    path = write(tmp_path, """
        start_urls: ["https://x.example/"]
        scope: {max_depth: null}
        limits: {max_pages: ~, max_duration: null}
        store:
    """)
    config = load_config(path)
    assert config.scope.max_depth is None
    assert config.limits == LimitsConfig()
    assert config.store == StoreConfig()


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    path = write(tmp_path, """
        start_urls: ["https://x.example/"]
        politeness:
          hosts:
            a.example: &slow {concurrency: 1, delay: 3s}
            b.example: {<<: *slow, delay: 1s}
    """)
    hosts = load_config(path).politeness.hosts
    assert hosts == (HostRule(pattern="a.example", concurrency=1, delay=3.0),
                     HostRule(pattern="b.example", concurrency=1, delay=1.0))


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_in_the_repository_loads(path: Path) -> None:
    config = load_config(path)
    assert config.name == path.stem
    assert config.start_urls
    assert config.scope.allowed_domains


def test_the_example_config_in_the_design_document_loads(tmp_path: Path) -> None:
    design = (REPO / "DESIGN.md").read_text(encoding="utf-8")
    section = design.split("## Configuration", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    path = tmp_path / "design.yaml"
    path.write_text(example.group(1), encoding="utf-8")
    config = load_config(path)
    assert config.fetch.max_body_size == 10 * 1024 * 1024
    assert config.limits.max_duration == 1800.0
    assert config.extract[0].fields[-1].many


def test_books_config_extracts_the_book_fields() -> None:
    config = load_config(REPO / "configs" / "books.yaml")
    (rule,) = config.extract
    assert rule.match is not None
    assert rule.match.search("https://books.toscrape.com/catalogue/sharp-objects_997/index.html")
    assert not rule.match.search("https://books.toscrape.com/catalogue/page-2.html")
    assert [f.name for f in rule.fields] == ["title", "price", "availability", "rating", "upc"]
    assert rule.fields[3] == FieldRule(name="rating", selector="p.star-rating", attr="class",
                                       mode="attr")
    assert rule.fields[4].selector == "table tr:nth-child(1) td"
    assert (config.limits.max_pages, config.limits.max_duration) == (200, 600.0)
    assert config.politeness.rule_for("books.toscrape.com") == (2, 0.25)


def test_quotes_config_extracts_lists() -> None:
    (rule,) = load_config(REPO / "configs" / "quotes.yaml").extract
    assert [(f.name, f.selector, f.many) for f in rule.fields] == [
        ("quotes", "span.text", True), ("authors", "small.author", True)]


# --------------------------------------------------------------------------- extract rules

def test_extract_field_suffixes_choose_text_attribute_or_html(tmp_path: Path) -> None:
    path = write(tmp_path, """
        start_urls: ["https://x.example/"]
        extract:
          fields:
            plain: "h1"
            text: "h1 ::text"
            link: "a.next::attr( href )"
            body: "div#main::html"
            tags: ["ul.tags a::text"]
    """)
    (rule,) = load_config(path).extract
    assert rule == ExtractRule(match=None, type=None, fields=(
        FieldRule(name="plain", selector="h1"),
        FieldRule(name="text", selector="h1"),
        FieldRule(name="link", selector="a.next", attr="href", mode="attr"),
        FieldRule(name="body", selector="div#main", mode="html"),
        FieldRule(name="tags", selector="ul.tags a", many=True),
    ))
    assert [f.expression for f in rule.fields][2:4] == ["a.next::attr(href)", "div#main::html"]


def test_extract_accepts_a_list_of_rules_and_the_fields_shorthand(tmp_path: Path) -> None:
    path = write(tmp_path, r"""
        start_urls: ["https://x.example/"]
        extract:
          - match: '/book/\d+'
            type: book
            title: "h1::text"
          - type: page
            fields: {heading: "h2"}
    """)
    book, page = load_config(path).extract
    assert book.match == re.compile(r"/book/\d+")
    assert (book.type, [f.name for f in book.fields]) == ("book", ["title"])
    assert (page.match, page.type, page.fields[0].name) == (None, "page", "heading")


# --------------------------------------------------------------------------- politeness rules

def test_rule_for_matches_wildcards_including_the_bare_domain_case_insensitively() -> None:
    politeness = PolitenessConfig(per_host_concurrency=2, per_host_delay=0.25, hosts=(
        HostRule(pattern="*.example.com", concurrency=4),
        HostRule(pattern="api.other.org", delay=1.0),
        HostRule(pattern="*.other.org", concurrency=8, delay=0.0),
    ))
    assert politeness.rule_for("example.com") == (4, 0.25)
    assert politeness.rule_for("WWW.Example.COM") == (4, 0.25)
    assert politeness.rule_for("a.b.example.com") == (4, 0.25)
    assert politeness.rule_for("badexample.com") == (2, 0.25)
    assert politeness.rule_for("api.other.org") == (2, 1.0)  # first match wins
    assert politeness.rule_for("cdn.other.org") == (8, 0.0)
    assert politeness.rule_for("unknown.net") == (2, 0.25)


def test_host_rule_exact_pattern_matches_only_that_host() -> None:
    rule = HostRule(pattern="example.com")
    assert rule.matches("example.com")
    assert rule.matches("Example.com.")
    assert not rule.matches("www.example.com")


# --------------------------------------------------------------------------- immutability, JSON

def test_configs_are_frozen_and_hashable(tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / "books.yaml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.fetch.concurrency = 1  # type: ignore[misc]
    assert isinstance(config.start_urls, tuple)
    assert hash(config) == hash(load_config(REPO / "configs" / "books.yaml"))


def test_to_json_dict_is_plain_json_that_config_from_dict_reads_back(tmp_path: Path) -> None:
    path = write(tmp_path, r"""
        start_urls: ["https://x.example/"]
        scope: {include: ['/a/']}
        politeness: {hosts: {"*.x.example": {delay: 1s}}}
        fetch: {headers: {Accept: text/html}}
        extract: {match: '\d+', fields: {title: "h1", links: ["a::attr(href)"]}}
    """)
    config = load_config(path)
    data = json.loads(json.dumps(config.to_json_dict()))
    assert data["scope"]["include"] == ["/a/"]
    assert data["politeness"]["hosts"] == {"*.x.example": {"concurrency": None, "delay": 1.0}}
    assert data["fetch"]["headers"] == {"Accept": "text/html"}
    assert data["extract"] == [{"match": r"\d+", "type": None,
                                "fields": {"title": "h1::text", "links": ["a::attr(href)"]}}]
    assert config_from_dict(data) == dataclasses.replace(config, source=None)


def test_config_from_dict_validates_without_line_numbers() -> None:
    config = config_from_dict({"start_urls": ["https://x.example/"],
                               "fetch": {"timeout": "5s"}})
    assert (config.name, config.fetch.timeout) == ("crawl", 5.0)
    assert config.scope.allowed_domains == ("x.example",)
    with pytest.raises(ConfigError) as caught:
        config_from_dict({"fetch": {"concurrency": 0}}, source="MySpider")
    assert str(caught.value) == "MySpider: fetch.concurrency: must be at least 1, got 0"


# --------------------------------------------------------------------------- overrides

def test_command_line_overrides_replace_values_parsed_as_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, 'start_urls: ["https://x.example/"]\n')
    config = load_config(path, ["fetch.concurrency=8", "scope.include=['/a/']",
                                "limits.max_duration=30m", "output=x.db",
                                "politeness.per_host_delay=0"])
    assert config.fetch.concurrency == 8
    assert config.scope.include == (re.compile("/a/"),)
    assert config.limits.max_duration == 1800.0
    assert config.output_path == "x.db"
    assert config.politeness.per_host_delay == 0.0


def test_parse_overrides_reads_each_value_as_yaml() -> None:
    assert parse_overrides(["fetch.concurrency=8", "output=", "scope.include=['/a/', '/b/']",
                            "store.body=false", "name = books"]) == {
        "fetch.concurrency": 8, "output": None, "scope.include": ["/a/", "/b/"],
        "store.body": False, "name": "books"}


def test_apply_overrides_takes_dotted_keys_and_section_mappings() -> None:
    base = config_from_dict({"start_urls": ["https://x.example/"]})
    politeness = {"robots_txt": "ignore", "hosts": {"x.example": {"delay": 1}}}
    config = apply_overrides(base, {"fetch.concurrency": 3, "politeness": politeness})
    assert config.fetch.concurrency == 3
    assert config.politeness.robots_txt == "ignore"
    assert config.politeness.rule_for("x.example") == (2, 1.0)
    assert base.fetch.concurrency == 16  # the original is untouched


def test_overriding_start_urls_updates_derived_allowed_domains() -> None:
    base = config_from_dict({"start_urls": ["https://x.example/"]})
    config = apply_overrides(base, {"start_urls": ["https://y.example/"]})
    assert config.scope.allowed_domains == ("y.example",)
    explicit = config_from_dict({"start_urls": ["https://x.example/"],
                                 "scope": {"allowed_domains": ["x.example", "z.example"]}})
    kept = apply_overrides(explicit, {"start_urls": ["https://y.example/"]})
    assert kept.scope.allowed_domains == ("x.example", "z.example")


@pytest.mark.parametrize(("override", "message"), [
    ("fetch.concurrency=abc", "fetch.concurrency: expected an integer, got 'abc'"),
    ("fetch.concurency=4", "fetch.concurency: unknown key (did you mean 'concurrency'?)"),
    ("fetc.concurrency=4", "fetc.concurrency: unknown key (did you mean 'fetch'?)"),
    ("limits.max_duration=soon", "limits.max_duration: invalid duration 'soon': expected a "
                                 "number of seconds or a duration like '30s', '30m', '2h', "
                                 "'1h30m', '500ms' (units ms, s, m, h, d)"),
    ("scope.include=[", "scope.include: invalid YAML: expected the node content, but found "
                        "'<stream end>' (while parsing a flow node)"),
    ("concurrency 8", "expected section.key=value, got 'concurrency 8'"),
])
def test_a_bad_override_names_the_command_line(tmp_path: Path, override: str,
                                               message: str) -> None:
    path = write(tmp_path, 'start_urls: ["https://x.example/"]\n')
    error = load_error(path, (override,))
    assert str(error) == f"command line (-s): {message}"
    assert error.source == "command line (-s)"


# --------------------------------------------------------------------------- errors: file and line

ERRORS = {
    "yaml_syntax": ("""
        name: x
        fetch:
          concurrency: 4
           timeout: 3
    """, "4: invalid YAML: mapping values are not allowed here"),
    "yaml_unclosed_list": ("""
        name: x
        start_urls: [https://x.example/
        fetch: {}
    """, "3: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence)"),
    "top_level_list": ("""
        - https://x.example/
    """, "1: expected a mapping of settings (like 'start_urls: [...]') at the top level, "
         "got a list"),
    "unknown_key_close": ("""
        name: x
        fetch:
          concurency: 4
    """, "3: fetch.concurency: unknown key (did you mean 'concurrency'?)"),
    "unknown_key_far": ("""
        name: x
        store:
          everything: true
    """, "3: store.everything: unknown key (valid keys: body, text, links, markdown, metadata, "
        "non_html, screenshot, screenshot_full_page)"),
    "unknown_section": ("""
        name: x
        politenes: {}
    """, "2: politenes: unknown key (did you mean 'politeness'?)"),
    "duplicate_key": ("""
        fetch:
          timeout: 3
          timeout: 4
    """, "3: fetch.timeout: duplicate key"),
    "section_not_mapping": ("""
        name: x
        limits: 5
    """, "2: limits: expected a mapping, got 5"),
    "integer": ("""
        name: x
        fetch:
          timeout: 3
          concurrency: abc
    """, "4: fetch.concurrency: expected an integer, got 'abc'"),
    "integer_not_float": ("""
        limits: {max_pages: 2.5}
    """, "1: limits.max_pages: expected an integer, got 2.5"),
    "boolean_yes": ("""
        name: x
        scope:
          allow_subdomains: yes
    """, "3: scope.allow_subdomains: expected true/false, got 'yes'"),
    "boolean_number": ("""
        store: {body: 1}
    """, "1: store.body: expected true/false, got 1"),
    "string": ("""
        name: 5
    """, "1: name: expected a string, got 5 (put it in quotes)"),
    "list_of_strings": ("""
        name: x
        scope:
          include: 5
    """, "3: scope.include: expected a list of strings, got 5"),
    "regex_include": ("""
        name: x
        scope:
          include: ['(a']
    """, "3: scope.include[0]: invalid regular expression '(a': missing ), unterminated "
         "subpattern at position 0"),
    "regex_exclude_block_list": ("""
        scope:
          exclude:
            - '/ok/'
            - '[z-a]'
    """, "4: scope.exclude[1]: invalid regular expression '[z-a]': bad character range z-a "
         "at position 1"),
    "regex_match": ("""
        extract:
          match: '*.html'
          fields: {title: h1}
    """, "2: extract.match: invalid regular expression '*.html': nothing to repeat at "
         "position 0"),
    "url_without_scheme": ("""
        name: x
        start_urls:
          - https://ok.example/
          - books.toscrape.com
    """, "4: start_urls[1]: invalid URL 'books.toscrape.com': expected an absolute http:// "
         "or https:// URL with a host, like 'https://example.com/'"),
    "url_wrong_scheme": ("""
        start_urls: ["ftp://files.example/"]
    """, "1: start_urls[0]: invalid URL 'ftp://files.example/': expected an absolute "
         "http:// or https:// URL with a host, like 'https://example.com/'"),
    "domain_is_url": ("""
        scope: {allowed_domains: ["https://x.example/"]}
    """, "1: scope.allowed_domains[0]: expected a domain name like 'example.com' (no scheme, "
         "port or path), got 'https://x.example/'"),
    "concurrency_zero": ("""
        fetch:
          concurrency: 0
    """, "2: fetch.concurrency: must be at least 1, got 0"),
    "per_host_concurrency_negative": ("""
        politeness: {per_host_concurrency: -2}
    """, "1: politeness.per_host_concurrency: must be at least 1, got -2"),
    "max_pages_zero": ("""
        limits:
          max_pages: 0
    """, "2: limits.max_pages: must be at least 1, got 0"),
    "max_depth_negative": ("""
        scope:
          max_depth: -1
    """, "2: scope.max_depth: must be at least 0, got -1"),
    "delay_negative": ("""
        politeness:
          per_host_delay: -1
    """, "2: politeness.per_host_delay: a duration cannot be negative, got -1; expected a "
         "number of seconds or a duration like '30s', '30m', '2h', '1h30m', '500ms' "
         "(units ms, s, m, h, d)"),
    "timeout_zero": ("""
        fetch: {timeout: 0s}
    """, "1: fetch.timeout: must be greater than 0, got '0s'"),
    "read_timeout_zero": ("""
        fetch:
          read_timeout: 0
    """, "2: fetch.read_timeout: must be greater than 0, got 0"),
    "max_redirects_negative": ("""
        fetch:
          max_redirects: -1
    """, "2: fetch.max_redirects: must be at least 0, got -1"),
    "non_html": ("""
        store:
          non_html: drop
    """, "2: store.non_html: expected one of metadata, body, skip; got 'drop'"),
    "size": ("""
        fetch:
          max_body_size: 10XB
    """, "2: fetch.max_body_size: invalid size '10XB': expected a number of bytes or a size "
         "like '10MB', '512KB', '1.5MiB' (units B, KB, MB, GB, KiB, MiB, GiB; all powers "
         "of 1024)"),
    "duration": ("""
        limits:
          max_duration: soon
    """, "2: limits.max_duration: invalid duration 'soon': expected a number of seconds or a "
         "duration like '30s', '30m', '2h', '1h30m', '500ms' (units ms, s, m, h, d)"),
    "robots_txt": ("""
        politeness:
          robots_txt: maybe
    """, "2: politeness.robots_txt: expected one of obey, ignore; got 'maybe'"),
    "robots_txt_off": ("""
        politeness: {robots_txt: off}
    """, "1: politeness.robots_txt: expected one of obey, ignore; got 'off'"),
    "robots_agent": ("""
        politeness:
          robots_agent: "crawler/0.1"
    """, "2: politeness.robots_agent: expected a product token of letters, '_' and '-' (like "
         "'mybot'), got 'crawler/0.1'"),
    "robots_tries": ("""
        politeness: {robots_tries: 0}
    """, "1: politeness.robots_tries: must be at least 1, got 0"),
    "robots_backoff": ("""
        politeness:
          robots_backoff: 0s
    """, "2: politeness.robots_backoff: must be greater than 0, got '0s'"),
    "robots_ttl": ("""
        politeness:
          robots_ttl: -1
    """, "2: politeness.robots_ttl: a duration cannot be negative, got -1; expected a number "
         "of seconds or a duration like '30s', '30m', '2h', '1h30m', '500ms' "
         "(units ms, s, m, h, d)"),
    "noindex": ("""
        politeness:
          noindex: false
    """, "2: politeness.noindex: expected one of obey, ignore; got false"),
    "rel_nofollow": ("""
        politeness: {rel_nofollow: obey}
    """, "1: politeness.rel_nofollow: expected one of follow, skip; got 'obey'"),
    "adaptive": ("""
        politeness: {adaptive: yes}
    """, "1: politeness.adaptive: expected true/false, got 'yes'"),
    "target_concurrency_zero": ("""
        politeness:
          target_concurrency: 0
    """, "2: politeness.target_concurrency: must be a number greater than 0, got 0"),
    "target_concurrency_text": ("""
        politeness:
          target_concurrency: lots
    """, "2: politeness.target_concurrency: expected a number, got 'lots'"),
    "max_delay": ("""
        politeness:
          max_delay: 0
    """, "2: politeness.max_delay: must be greater than 0, got 0"),
    "host_rule_unknown_key": ("""
        politeness:
          hosts:
            "*.example.com":
              dealy: 1s
    """, "4: politeness.hosts['*.example.com'].dealy: unknown key (did you mean 'delay'?)"),
    "host_rule_delay": ("""
        politeness:
          hosts:
            slow.org: {delay: later}
    """, "3: politeness.hosts['slow.org'].delay: invalid duration 'later': expected a number "
         "of seconds or a duration like '30s', '30m', '2h', '1h30m', '500ms' "
         "(units ms, s, m, h, d)"),
    "header_value": ("""
        fetch:
          headers:
            X-Count: 3
    """, "3: fetch.headers.X-Count: expected a one-line string, got 3 (put it in quotes)"),
    "css_selector": ("""
        extract:
          fields:
            title: "h1::text"
            price: "p[::text"
    """, "4: extract.fields.price: invalid CSS selector 'p[': Can't parse CSS selector."),
    "selector_suffix": ("""
        extract:
          fields:
            title: "h1::txt"
    """, "3: extract.fields.title: unknown suffix '::txt' in 'h1::txt'; valid suffixes are "
         "::text, ::attr(name), ::html"),
    "selector_list_of_two": ("""
        extract:
          fields:
            tags: ["a::text", "b::text"]
    """, "3: extract.fields.tags: a list means 'every match' and must hold exactly one "
         "selector, got 2 items"),
    "rule_unknown_key": ("""
        extract:
          - fields: {title: h1}
            tpye: book
    """, "3: extract[0].tpye: unknown key (did you mean 'type'?)"),
    "rule_fields_typo": ("""
        extract:
          match: /x/
          feilds:
            title: h1
    """, "3: extract.feilds: unknown key (did you mean 'fields'?)"),
    "rule_without_fields": ("""
        extract:
          match: /x/
    """, "2: extract: no fields: expected 'fields: {name: \"css::text\", ...}'"),
    "unsafe_tag": ("""
        name: !!python/object/apply:os.system ["true"]
    """, "1: name: expected a string, got a list"),
    "unknown_scalar_tag": ("""
        name: !!python/name:os.system
    """, "1: name: cannot read value: could not determine a constructor for the tag "
         "'tag:yaml.org,2002:python/name:os.system'"),
}


@pytest.mark.parametrize(("text", "expected"), ERRORS.values(), ids=ERRORS.keys())
def test_errors_name_the_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    assert str(error) == f"{path}:{expected}"
    assert (error.source, error.line) == (str(path), int(expected.split(":")[0]))


def test_unknown_key_suggests_closest_valid_key_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, """
        name: books
        start_urls: ["https://books.toscrape.com/"]
        fetch:
          timeout: 30s
          concurency: 4
    """)
    error = load_error(path)
    assert str(error) == f"{path}:5: fetch.concurency: unknown key (did you mean 'concurrency'?)"
    assert (error.line, error.key) == (5, "fetch.concurency")


def test_missing_file_says_no_such_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert str(load_error(path)) == f"{path}: no such file"


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "# nothing here\n")
    assert str(load_error(path)) == (f"{path}: the file is empty; expected settings like "
                                     "'start_urls: [...]'")


def test_the_readme_configuration_reference_is_the_generated_table() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration reference"):readme.index("## The database")]
    assert table_in(section) == table(), (
        "README.md's configuration reference differs from the keys declared in "
        "crawler/config/model.py: run `python -m crawler.config.reference --write README.md` "
        "(or paste what `python -m crawler.config.reference` prints)")


def test_the_reference_has_a_documented_row_for_every_setting() -> None:
    def keys(cls: type, prefix: str = "") -> list[str]:
        found = []
        for f in dataclasses.fields(cls):
            default = (f.default_factory() if f.default_factory is not dataclasses.MISSING
                       else None)
            if dataclasses.is_dataclass(default):
                found += keys(type(default), f"{prefix}{f.name}.")
            elif f.name != "source":
                found.append(prefix + f.name)
        return found

    found = {name.strip("`"): (default, meaning) for name, default, meaning in rows()}
    assert list(found) == keys(CrawlConfig)  # a field declared without key() is not a key
    assert all(default.strip() and meaning.strip() for default, meaning in found.values())


def test_a_default_shown_as_a_literal_must_be_the_real_default() -> None:
    declared = key(30.0, duration(positive=True), "total time", shown="`31s`")
    fake = dataclasses.make_dataclass("Fake", [("timeout", float, declared)])
    with pytest.raises(ValueError, match=r"fetch.timeout: shown='`31s`' reads back as 31.0, "
                                         r"but the default is 30.0"):
        check_shown(("fetch", "timeout"), keys_of(fake)["timeout"], 30.0)
