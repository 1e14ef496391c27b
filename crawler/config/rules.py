"""The nested rules of a config, and how each is read: host rules and extract rules.

`politeness.hosts` maps host patterns to per-host overrides, `fetch.hosts` to
what is sent to them (headers, auth, proxy), `fetch.preset_cookies` domains to
cookies; `extract` is one rule or a list of rules whose fields are CSS
selectors with a suffix ("h1::text", "a::attr(href)", "div::html",
["li::text"] for every match). They are shaped unlike the flat `key: value`
sections, so their readers live here, beside the records they make.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from selectolax.lexbor import LexborHTMLParser, SelectolaxError
from yarl import URL

from crawler.config import secrets
from crawler.config.checks import (
    Validator,
    build,
    duration,
    http_headers,
    integer,
    key,
    mapping,
    optional,
    regex,
    show,
    string,
    unknown_key,
    validators,
)
from crawler.config.source import Doc, KeyPath

_frozen = dataclass(frozen=True, slots=True, kw_only=True)


# --------------------------------------------------------------------------- politeness.hosts

@_frozen
class HostRule:
    """Per-host politeness override; `pattern` is "example.com" or "*.example.com"."""

    pattern: str  # not a key: the mapping key the rule is written under
    concurrency: int | None = key(
        None, optional(integer(1)), "requests in flight to a matching host",
        shown="`politeness.per_host_concurrency`")
    delay: float | None = key(
        None, optional(duration(positive=False)),
        "seconds between the starts of two requests to a matching host",
        shown="`politeness.per_host_delay`")

    def matches(self, host: str) -> bool:
        """Match case-insensitively, fnmatch-style; "*.x.com" also matches "x.com" itself."""
        return _host_matches(self.pattern.lower(), host)


_HOST_RULE_KEYS: dict[str, Validator] = validators(HostRule)


def host_rules(doc: Doc, path: KeyPath, value: Any) -> tuple[HostRule, ...]:
    """{"*.example.com": {concurrency: 4, delay: 0}, ...}, in the order written."""
    rules = []
    for pattern, rule in mapping(doc, path, value).items():
        with doc.collecting():  # a bad rule is reported with the others, and left out
            rules.append(build(doc, (*path, str(pattern)), rule, HostRule, _HOST_RULE_KEYS,
                               pattern=_pattern(doc, path, pattern)))
    return tuple(rules)


# --------------------------------------------------------------------------- fetch.hosts

def secret(doc: Doc, path: KeyPath, value: Any) -> str:
    """A string that may name environment variables: `"${API_TOKEN}"`."""
    return secrets.check(doc, path, string(doc, path, value))


def proxy_url(doc: Doc, path: KeyPath, value: Any) -> str:
    """An http:// or https:// proxy URL, credentials allowed (`${NAME}` for the password)."""
    text = secret(doc, path, value).strip()
    try:
        parsed = URL(secrets.expand(text))
        ok = parsed.scheme in ("http", "https") and bool(parsed.host) and parsed.path in ("", "/")
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise doc.error(path, f"invalid proxy {secrets.redact_url(text)!r}: expected "
                              "http://host:port or https://host:port, with user:password@ "
                              "if the proxy needs them")
    return text


def proxy_list(doc: Doc, path: KeyPath, value: Any) -> tuple[str, ...]:
    """One proxy URL or a list of them; null or [] for none."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise doc.error(path, f"expected a proxy URL or a list of them, got {show(value)}")
    return tuple(proxy_url(doc, (*path, i), item) for i, item in enumerate(items))


def host_proxy(doc: Doc, path: KeyPath, value: Any) -> tuple[str, ...]:
    """A host's proxies: a URL, a list, or `direct` (no proxy: `()`)."""
    if isinstance(value, str) and value.strip().lower() == "direct":
        return ()
    if value is None:
        raise doc.error(path, "expected a proxy URL, a list of them, or 'direct'")
    return proxy_list(doc, path, value)


def basic_auth(doc: Doc, path: KeyPath, value: Any) -> tuple[str, str]:
    """{user: NAME, password: "${PASSWORD}"} for HTTP Basic authentication."""
    given = mapping(doc, path, value)
    for name in given:
        if name not in ("user", "password"):
            raise unknown_key(doc, (*path, str(name)), ("user", "password"))
    if "user" not in given or "password" not in given:
        raise doc.error(path, "expected {user: NAME, password: \"${PASSWORD}\"}")
    user = string(doc, (*path, "user"), given["user"])
    if ":" in user:
        raise doc.error((*path, "user"), "a Basic auth user name cannot contain ':'")
    return user, secret(doc, (*path, "password"), given["password"])


def secret_headers(doc: Doc, path: KeyPath, value: Any) -> tuple[tuple[str, str], ...]:
    """Headers whose values may name environment variables."""
    result = http_headers(doc, path, value)
    for name, text in result:
        secrets.check(doc, (*path, name), text)
    return result


@_frozen
class FetchHostRule:
    """What to send to the hosts a pattern matches (and to no other host)."""

    pattern: str  # not a key: the mapping key the rule is written under
    headers: tuple[tuple[str, str], ...] = key(
        (), secret_headers, "extra request headers for a matching host")
    basic: tuple[str, str] | None = key(
        None, optional(basic_auth), "HTTP Basic auth: `{user: me, password: \"${PASSWORD}\"}`")
    bearer: str | None = key(None, optional(secret), "a bearer token: `\"${API_TOKEN}\"`")
    proxy: tuple[str, ...] | None = key(
        None, host_proxy, "a proxy URL, a list, or `direct`", shown="`fetch.proxy`")

    def matches(self, host: str) -> bool:
        return _host_matches(self.pattern, host)

    def to_json(self, *, redact: bool = False) -> dict[str, Any]:
        """The rule as a config writes it; with `redact` (for `crawls.config`) a secret
        written out in the YAML is `***`."""
        hide = secrets.redact if redact else str
        data: dict[str, Any] = {"headers": {
            name: secrets.redact_header(name, value) if redact else value
            for name, value in self.headers}}
        if self.basic:
            data["basic"] = {"user": self.basic[0], "password": hide(self.basic[1])}
        if self.bearer:
            data["bearer"] = hide(self.bearer)
        if self.proxy is not None:
            urls = [secrets.redact_url(url) if redact else url for url in self.proxy]
            data["proxy"] = urls or "direct"
        return data


_FETCH_HOST_KEYS: dict[str, Validator] = validators(FetchHostRule)


def fetch_host_rules(doc: Doc, path: KeyPath, value: Any) -> tuple[FetchHostRule, ...]:
    """{"api.example.com": {bearer: "${TOKEN}"}, ...}, in the order written."""
    rules = []
    for pattern, rule in mapping(doc, path, value).items():
        rules.append(build(doc, (*path, str(pattern)), rule, FetchHostRule, _FETCH_HOST_KEYS,
                           pattern=_pattern(doc, path, pattern)))
        if rules[-1].basic and rules[-1].bearer:
            raise doc.error((*path, str(pattern)), "give basic or bearer, not both")
    return tuple(rules)


# --------------------------------------------------------------------------- fetch.render_hosts

RENDER_MODES = ("never", "always", "auto")


@_frozen
class RenderRule:
    """`fetch.render` for the hosts matching `pattern` ("app.example.com", "*.example.com")."""

    pattern: str
    render: str

    def matches(self, host: str) -> bool:
        return HostRule(pattern=self.pattern).matches(host)


def render_rules(doc: Doc, path: KeyPath, value: Any) -> tuple[RenderRule, ...]:
    """{"*.example.com": auto, ...}, in the order written."""
    rules = []
    for pattern, mode in mapping(doc, path, value).items():
        if not isinstance(pattern, str) or not pattern.strip():
            raise doc.error((*path, str(pattern)), "expected a host pattern like "
                            "'example.com' or '*.example.com'", at_key=True)
        where = (*path, pattern)
        if not isinstance(mode, str) or mode.strip().lower() not in RENDER_MODES:
            raise doc.error(where, f"expected one of {', '.join(RENDER_MODES)}; got {show(mode)}")
        rules.append(RenderRule(pattern=pattern.strip().lower(), render=mode.strip().lower()))
    return tuple(rules)


def preset_cookies(doc: Doc, path: KeyPath, value: Any) -> tuple[tuple[str, str, str], ...]:
    """{"example.com": {name: value}} as (domain, name, value) triples."""
    found = []
    for host, cookies in mapping(doc, path, value).items():
        where = (*path, str(host))
        domain = _pattern(doc, path, host).lstrip("*.")
        if not re.fullmatch(r"[^\s/:?#@*]+", domain):
            raise doc.error(where, "expected a domain like 'example.com'", at_key=True)
        for name, text in mapping(doc, where, cookies).items():
            if not isinstance(name, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+",
                                                              name):
                raise doc.error((*where, str(name)), "invalid cookie name", at_key=True)
            found.append((domain, name, secret(doc, (*where, name), text)))
    return tuple(found)


def _pattern(doc: Doc, path: KeyPath, pattern: Any) -> str:
    if not isinstance(pattern, str) or not pattern.strip():
        raise doc.error((*path, str(pattern)), "expected a host pattern like "
                        "'example.com' or '*.example.com'", at_key=True)
    return pattern.strip().lower()


def _host_matches(pattern: str, host: str) -> bool:
    """Match case-insensitively, fnmatch-style; "*.x.com" also matches "x.com" itself."""
    host = host.lower().rstrip(".")
    if pattern.startswith("*.") and host == pattern[2:]:
        return True
    return fnmatch.fnmatchcase(host, pattern)


# --------------------------------------------------------------------------- extract

@_frozen
class FieldRule:
    """One extracted field: "css::text" (the default), "css::attr(name)" or "css::html"."""

    name: str
    selector: str  # the CSS part
    attr: str | None = None  # set when mode == "attr"
    mode: Literal["text", "attr", "html"] = "text"
    many: bool = False  # every match, as a list (written as a one-element YAML list)

    @property
    def expression(self) -> str:
        """The selector as written in a config: "a.next::attr(href)"."""
        suffix = f"attr({self.attr})" if self.mode == "attr" else self.mode
        return f"{self.selector}::{suffix}"


@_frozen
class ExtractRule:
    """Fields to extract from the pages whose URL matches `match` (None: every HTML page)."""

    match: re.Pattern[str] | None = None
    type: str | None = None  # item type; None: the crawl name
    fields: tuple[FieldRule, ...]


_RULE_KEYS = ("match", "type", "fields")
_SUFFIX = re.compile(r"(text|html)|attr\(\s*([^\s()]+)\s*\)")
_SUFFIXES = "valid suffixes are ::text, ::attr(name), ::html"


def extract_rules(doc: Doc, path: KeyPath, value: Any) -> tuple[ExtractRule, ...]:
    """One rule mapping or a list of them."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return (_extract_rule(doc, path, value),)
    if not isinstance(value, list | tuple):
        raise doc.error(path, f"expected a rule mapping or a list of them, got {show(value)}")
    rules = []
    for i, rule in enumerate(value):
        with doc.collecting():
            rules.append(_extract_rule(doc, (*path, i), rule))
    return tuple(rules)


def _extract_rule(doc: Doc, path: KeyPath, value: Any) -> ExtractRule:
    """{match, type, fields: {name: selector}}; without `fields`, other keys are the fields."""
    rule = mapping(doc, path, value)
    if "fields" in rule:
        for key in rule:
            if key not in _RULE_KEYS:
                doc.problems.append(unknown_key(doc, (*path, str(key)), _RULE_KEYS))
        fields_path, given = (*path, "fields"), mapping(doc, (*path, "fields"), rule["fields"])
    else:
        fields_path, given = path, {k: v for k, v in rule.items() if k not in ("match", "type")}
    if not given:
        raise doc.error(fields_path, "no fields: expected 'fields: {name: \"css::text\", ...}'")
    match = type_ = None
    with doc.collecting():
        match = optional(regex)(doc, (*path, "match"), rule.get("match"))
    with doc.collecting():
        type_ = optional(string)(doc, (*path, "type"), rule.get("type"))
    fields = []
    for name, selector in given.items():
        with doc.collecting():
            fields.append(_field(doc, (*fields_path, str(name)), str(name), selector))
    return ExtractRule(match=match, type=type_, fields=tuple(fields))


def _field(doc: Doc, path: KeyPath, name: str, value: Any) -> FieldRule:
    """"css::suffix", or ["css::suffix"] for every match as a list."""
    if isinstance(value, Mapping) and difflib.get_close_matches(name, _RULE_KEYS, n=1):
        raise unknown_key(doc, path, _RULE_KEYS)  # e.g. "feilds:" read as a field
    many = isinstance(value, list | tuple)
    if many:
        if len(value) != 1:
            raise doc.error(path, "a list means 'every match' and must hold exactly one "
                                  f"selector, got {len(value)} items")
        path, value = (*path, 0), value[0]
    if not isinstance(value, str):
        raise doc.error(path, "expected a selector like 'h1::text' or a one-element list "
                              f"like ['li::text'], got {show(value)}")
    css, mode, attr = _selector(doc, path, value)
    return FieldRule(name=name, selector=css, attr=attr, mode=mode, many=many)


def _selector(doc: Doc, path: KeyPath, text: str) -> tuple[str, Any, str | None]:
    """Split "css::suffix" into (css, mode, attr), checking both parts."""
    css, sep, suffix = text.rpartition("::")
    if not sep:
        css, suffix = text, "text"
    match = _SUFFIX.fullmatch(suffix.strip())
    if match is None:
        raise doc.error(path, f"unknown suffix '::{suffix}' in {text!r}; {_SUFFIXES}")
    css = css.strip()
    if not css:
        raise doc.error(path, f"missing CSS selector in {text!r}, e.g. 'h1::text'")
    try:
        LexborHTMLParser("<p></p>").css(css)
    except (SelectolaxError, ValueError) as exc:
        raise doc.error(path, f"invalid CSS selector {css!r}: {exc}") from None
    return (css, "attr", match.group(2)) if match.group(2) else (css, match.group(1), None)
