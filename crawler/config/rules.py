"""The nested rules of a config, and how each is read: host rules and extract rules.

`politeness.hosts` maps host patterns to per-host overrides; `extract` is one
rule or a list of rules whose fields are CSS selectors with a suffix
("h1::text", "a::attr(href)", "div::html", ["li::text"] for every match). Both
are shaped unlike the flat `key: value` sections, so their readers live here,
beside the records they make.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from selectolax.lexbor import LexborHTMLParser, SelectolaxError

from crawler.config.checks import (
    Validator,
    build,
    duration,
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
        host, pattern = host.lower().rstrip("."), self.pattern.lower()
        if pattern.startswith("*.") and host == pattern[2:]:
            return True
        return fnmatch.fnmatchcase(host, pattern)


_HOST_RULE_KEYS: dict[str, Validator] = validators(HostRule)


def host_rules(doc: Doc, path: KeyPath, value: Any) -> tuple[HostRule, ...]:
    """{"*.example.com": {concurrency: 4, delay: 0}, ...}, in the order written."""
    rules = []
    for pattern, rule in mapping(doc, path, value).items():
        with doc.collecting():
            if not isinstance(pattern, str) or not pattern.strip():
                raise doc.error((*path, str(pattern)), "expected a host pattern like "
                                "'example.com' or '*.example.com'", at_key=True)
            rules.append(build(doc, (*path, pattern), rule, HostRule, _HOST_RULE_KEYS,
                               pattern=pattern.strip().lower()))
    return tuple(rules)


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
