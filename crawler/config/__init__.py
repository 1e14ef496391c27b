"""Crawl configuration: frozen, typed dataclasses and their YAML loading.

The dataclasses below hold every default there is; nothing else in the package
decides one. `load_config` reads a YAML file with `yaml.compose` (no tags are
ever constructed, only plain scalars) so each key and value keeps its line, and
every mistake is reported as a ConfigError that reads

    configs/x.yaml:12: fetch.concurency: unknown key (did you mean 'concurrency'?)

Validation is table-driven: `_SECTIONS` maps each section's keys to one
validator per kind of value (integer, duration, size, regex list, ...). The
same validators check YAML files, plain dicts (`config_from_dict`) and dotted
overrides (`-s fetch.concurrency=8`, `Spider.custom_settings`).

YAML booleans follow YAML 1.2: only true/false (any case) are booleans, so
`yes`, `no`, `on` and `off` are plain strings and `allow_subdomains: yes` is an
error rather than a silent surprise.
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Literal, TypeAlias

import yaml
from selectolax.lexbor import LexborHTMLParser, SelectolaxError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yarl import URL

from crawler.errors import ConfigError
from crawler.units import parse_duration, parse_size

__all__ = [
    "DEFAULT_USER_AGENT",
    "OVERRIDE_SOURCE",
    "CrawlConfig",
    "ExtractRule",
    "FetchConfig",
    "FieldRule",
    "HostRule",
    "LimitsConfig",
    "PolitenessConfig",
    "ScopeConfig",
    "StoreConfig",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "parse_overrides",
]

DEFAULT_USER_AGENT = "crawler/0.1"
OVERRIDE_SOURCE = "command line (-s)"

_frozen = dataclass(frozen=True, slots=True, kw_only=True)


# --------------------------------------------------------------------------- the config objects

@_frozen
class ScopeConfig:
    """Which URLs belong to the crawl."""

    allowed_domains: tuple[str, ...] = ()  # lower case; empty: the hosts of start_urls
    allow_subdomains: bool = True  # www.x.com is inside x.com
    include: tuple[re.Pattern[str], ...] = ()  # searched in the canonical URL; any must match
    exclude: tuple[re.Pattern[str], ...] = ()  # none may match
    max_depth: int | None = None  # start URLs are depth 0; None: unlimited
    max_url_length: int = 2048  # longer URLs are traps or junk
    max_path_segments: int = 32
    max_repeated_segments: int = 2  # a path segment more often than this: /a/b/a/b/a/b


@_frozen
class LimitsConfig:
    """When to stop."""

    max_pages: int | None = None
    max_duration: float | None = None  # seconds
    max_urls_per_host: int | None = None  # URLs accepted into the frontier, per host
    # URLs per host, path and set of query keys: /calendar?month=1, ?month=2, ...
    max_urls_per_pattern: int | None = 1000
    # Sitemaps (with `sitemaps: true`). sitemaps.org allows 50,000 URLs and
    # 50 MB uncompressed per file; the XML cap leaves room for files over it.
    max_sitemap_size: int = 50 * 1024 * 1024  # bytes received (compressed), per sitemap
    max_sitemap_decompressed: int = 100 * 1024 * 1024  # XML bytes after gunzip, per sitemap
    max_sitemap_urls: int = 50_000  # <url>/<sitemap> entries read from one sitemap
    max_sitemap_depth: int = 2  # sitemap indexes followed below a discovered sitemap
    max_sitemaps: int | None = 1000  # sitemap files fetched in one crawl


@_frozen
class HostRule:
    """Per-host politeness override; `pattern` is "example.com" or "*.example.com"."""

    pattern: str
    concurrency: int | None = None  # None: politeness.per_host_concurrency
    delay: float | None = None  # seconds; None: politeness.per_host_delay

    def matches(self, host: str) -> bool:
        """Match case-insensitively, fnmatch-style; "*.x.com" also matches "x.com" itself."""
        host, pattern = host.lower().rstrip("."), self.pattern.lower()
        if pattern.startswith("*.") and host == pattern[2:]:
            return True
        return fnmatch.fnmatchcase(host, pattern)


@_frozen
class PolitenessConfig:
    """How gently to treat each host."""

    robots_txt: Literal["obey", "ignore"] = "obey"
    per_host_concurrency: int = 2
    per_host_delay: float = 0.25  # seconds between the starts of two requests to one host
    hosts: tuple[HostRule, ...] = ()  # first match wins
    max_retry_after: float = 300.0  # cap on how long a 429/503 Retry-After cools a host
    # robots.txt (RFC 9309)
    robots_agent: str | None = None  # product token for robots.txt groups and <meta name>;
    #                                  None: the first token of fetch.user_agent
    robots_ttl: float = 24 * 3600.0  # a cached robots.txt is fetched again after this
    robots_tries: int = 5  # an unreachable robots.txt (5xx, network) gives up its host after
    robots_backoff: float = 10.0  # wait before trying it again; doubles each time, jittered
    robots_max_backoff: float = 300.0
    max_crawl_delay: float = 30.0  # a larger Crawl-delay is cut to this
    # page-level directives: <meta name="robots">, <meta name="AGENT">, X-Robots-Tag
    noindex: Literal["obey", "ignore"] = "obey"  # obey: keep no title, text or body
    nofollow: Literal["obey", "ignore"] = "obey"  # obey: follow none of the page's links
    rel_nofollow: Literal["follow", "skip"] = "follow"  # <a rel="nofollow"> is a ranking hint
    # adaptive throttling: a host's delay moves towards latency / target_concurrency
    adaptive: bool = False
    target_concurrency: float = 1.0  # requests the server should be handling at once
    max_delay: float = 60.0  # the most adaptive throttling slows a host down to

    def rule_for(self, host: str) -> tuple[int, float]:
        """(concurrency, delay) for `host`: the first matching rule, else the defaults."""
        for rule in self.hosts:
            if rule.matches(host):
                concurrency = self.per_host_concurrency if rule.concurrency is None else (
                    rule.concurrency)
                delay = self.per_host_delay if rule.delay is None else rule.delay
                return concurrency, delay
        return self.per_host_concurrency, self.per_host_delay


@_frozen
class FetchConfig:
    """HTTP settings."""

    concurrency: int = 16  # worker tasks
    timeout: float = 30.0  # seconds, total per request, body included
    connect_timeout: float = 10.0
    read_timeout: float = 15.0  # seconds without a byte (headers or body) before giving up
    max_body_size: int = 10 * 1024 * 1024  # bytes after content decoding
    max_redirects: int = 10  # hops followed from one request; more is an error
    user_agent: str = DEFAULT_USER_AGENT
    headers: tuple[tuple[str, str], ...] = ()
    parse_in_thread_above: int = 256 * 1024  # bytes
    retries: int = 2  # retries after the first attempt, for connection errors,
    #                   timeouts and retry_statuses
    retry_statuses: tuple[int, ...] = (408, 429, 500, 502, 503, 504)
    backoff: float = 0.5  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 60.0


@_frozen
class StoreConfig:
    """What to keep in the database for each page."""

    body: bool = True
    text: bool = True
    links: bool = True
    markdown: bool = False  # Markdown of the main content, for search and language models
    # Responses that are not HTML: a row without the body (never read), the body
    # kept (not parsed), or no row at all.
    non_html: Literal["metadata", "body", "skip"] = "metadata"


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


@_frozen
class CrawlConfig:
    """Everything about one crawl."""

    name: str = "crawl"
    start_urls: tuple[str, ...] = ()
    sitemaps: bool = False  # seed from the start hosts' sitemaps (robots.txt, /sitemap.xml)
    output: str | None = None  # None: "<name>.db"
    # Where URLs to fetch and the seen-set live: on disk in the output file
    # (bounded memory, resumable) or in memory (no resume; tests and benchmarks).
    frontier: Literal["sqlite", "memory"] = "sqlite"
    # An unfinished crawl of the same name in the output file: continue it
    # (auto), insist on continuing one (always), or start over (never).
    resume: Literal["auto", "always", "never"] = "auto"
    recrawl: bool = False  # re-fetch the last crawl's pages with If-None-Match/If-Modified-Since
    scope: ScopeConfig = field(default_factory=ScopeConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    politeness: PolitenessConfig = field(default_factory=PolitenessConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    extract: tuple[ExtractRule, ...] = ()
    source: str | None = None  # the file it came from

    @property
    def output_path(self) -> str:
        """The SQLite file to write: `output`, or "<name>.db"."""
        return self.output if self.output is not None else f"{self.name}.db"

    def to_json_dict(self) -> dict[str, Any]:
        """A plain JSON-serialisable dict that `config_from_dict` reads back."""
        data = _plain(self)
        del data["source"]
        data["politeness"]["hosts"] = {
            rule.pattern: {"concurrency": rule.concurrency, "delay": rule.delay}
            for rule in self.politeness.hosts}
        data["fetch"]["headers"] = dict(self.fetch.headers)
        data["extract"] = [
            {"match": _plain(rule.match), "type": rule.type,
             "fields": {f.name: _plain(f) for f in rule.fields}}
            for rule in self.extract]
        return data


def _plain(value: Any) -> Any:
    """Dataclasses to dicts, tuples to lists, patterns and field rules to their strings."""
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, FieldRule):
        return [value.expression] if value.many else value.expression
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value


# --------------------------------------------------------------------------- public functions

def load_config(path: str | Path, overrides: Sequence[str] = ()) -> CrawlConfig:
    """Read a YAML config file, then apply "-s section.key=value" overrides."""
    path = Path(path)
    source = str(path)
    data, doc = _read_yaml(_read_text(path), source)
    if data is None:
        raise ConfigError("the file is empty; expected settings like 'start_urls: [...]'",
                          source=source)
    _check_top_level(doc, data)
    config = _build(doc, (), data, CrawlConfig, _TOP_KEYS, name=path.stem, source=source)
    return apply_overrides(config, parse_overrides(overrides), source=OVERRIDE_SOURCE)


def config_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> CrawlConfig:
    """Validate a nested dict (shaped like the YAML file) into a CrawlConfig."""
    doc = _Doc(source)
    _check_top_level(doc, data)
    config = _build(doc, (), data, CrawlConfig, _TOP_KEYS)
    return _with_default_domains(config)


def apply_overrides(config: CrawlConfig, overrides: Mapping[str, Any], *,
                    source: str = "overrides") -> CrawlConfig:
    """Return `config` with dotted keys replaced: {"fetch.concurrency": 8, "output": "x.db"}.

    A bare section name takes a mapping of its keys: {"limits": {"max_pages": 5}}.
    """
    doc = _Doc(source)
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, value in _flatten(doc, overrides).items():
        section, _, name = key.partition(".")
        if name and section in _SECTIONS:
            keys = _SECTIONS[section][1]
            if name not in keys:
                raise _unknown_key(doc, (section, name), keys)
            sections.setdefault(section, {})[name] = keys[name](doc, (section, name), value)
        elif not name and key in _TOP_KEYS:
            top[key] = _TOP_KEYS[key](doc, (key,), value)
        else:
            raise _unknown_key(doc, tuple(key.split(".")), _TOP_KEYS, name=section)
    changed = {name: replace(getattr(config, name), **kw) for name, kw in sections.items()}
    new = replace(config, **top, **changed)
    derived = _hosts(config.start_urls)
    if new.start_urls != config.start_urls and new.scope.allowed_domains == derived:
        new = replace(new, scope=replace(new.scope, allowed_domains=()))
    return _with_default_domains(new)


# --------------------------------------------------------------------------- reading YAML

KeyPath: TypeAlias = tuple[str | int, ...]
_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(slots=True)
class _Doc:
    """Where the values came from: a source name and the 1-based line of each key and value."""

    source: str
    key_lines: dict[KeyPath, int] = field(default_factory=dict)
    value_lines: dict[KeyPath, int] = field(default_factory=dict)

    def error(self, path: KeyPath, message: str, *, at_key: bool = False) -> ConfigError:
        """A ConfigError for the value (or key) at `path`, with its line when known."""
        return ConfigError(message, source=self.source, line=self.line(path, at_key=at_key),
                           key=_dotted(path) or None)

    def line(self, path: KeyPath, *, at_key: bool = False) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        first, second = ((self.key_lines, self.value_lines) if at_key
                         else (self.value_lines, self.key_lines))
        for depth in range(len(path), -1, -1):
            line = first.get(path[:depth]) or second.get(path[:depth])
            if line is not None:
                return line
        return None


def _dotted(path: KeyPath) -> str:
    """("politeness", "hosts", "*.x.com") → "politeness.hosts['*.x.com']"; ints → "[0]"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def _read_text(path: Path) -> str:
    """The file's text, or a ConfigError saying why it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file", source=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML file", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text ({exc.reason})", source=str(path)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=str(path)) from None


def _read_yaml(text: str, source: str) -> tuple[Any, _Doc]:
    """Compose `text` and turn it into plain data, recording the line of every key and value."""
    doc = _Doc(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f" ({exc.context})" if exc.context else ""
        raise ConfigError(f"invalid YAML: {exc.problem}{context}", source=source,
                          line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=source) from None
    if node is None:
        return None, doc
    return _NodeReader(doc).value(node, ()), doc


class _NodeReader:
    """Turns composed YAML nodes into dicts, lists and scalars; only safe scalars are built."""

    def __init__(self, doc: _Doc) -> None:
        self.doc = doc
        self.constructor = SafeConstructor()
        self.active: set[int] = set()  # nodes being read: guards against recursive aliases

    def value(self, node: Node, path: KeyPath) -> Any:
        self.doc.value_lines[path] = node.start_mark.line + 1
        if id(node) in self.active:
            raise self.doc.error(path, "recursive YAML alias")
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
            return self.scalar(node, path)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        self.check_keys(node, path)
        try:
            self.constructor.flatten_mapping(node)  # resolve "<<: *anchor" merge keys
        except ConstructorError as exc:
            raise self.doc.error(path, f"bad merge key: {exc.problem}") from None
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:  # merged keys first, so our own keys win
            key = key_node.value
            self.doc.key_lines[(*path, key)] = key_node.start_mark.line + 1
            result[key] = self.value(value_node, (*path, key))
        return result

    def check_keys(self, node: MappingNode, path: KeyPath) -> None:
        """Keys must be plain scalars, each written once."""
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                raise ConfigError("a key must be a plain string, not a list or mapping",
                                  source=self.doc.source, line=line, key=_dotted(path) or None)
            if key_node.value in seen:
                raise ConfigError("duplicate key", source=self.doc.source, line=line,
                                  key=_dotted((*path, key_node.value)))
            seen.add(key_node.value)

    def scalar(self, node: Node, path: KeyPath) -> Any:
        if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
            return node.value  # YAML 1.2: yes/no/on/off are strings
        try:
            return self.constructor.construct_object(node)
        except ConstructorError as exc:
            raise self.doc.error(path, f"cannot read value: {exc.problem}") from None


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """{"fetch.concurrency": 8} from ["fetch.concurrency=8"]; values are read as YAML.

    Pass the result to `apply_overrides(..., source=OVERRIDE_SOURCE)`.
    """
    result: dict[str, Any] = {}
    for text in overrides:
        key, sep, raw = text.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"expected section.key=value, got {text!r}", source=OVERRIDE_SOURCE)
        try:
            result[key] = _read_yaml(raw, OVERRIDE_SOURCE)[0]
        except ConfigError as exc:
            raise ConfigError(exc.detail, source=OVERRIDE_SOURCE, key=key) from None
    return result


_parse_overrides = parse_overrides  # the name crawler.cli imports


# --------------------------------------------------------------------------- validation

Validator: TypeAlias = Callable[[_Doc, KeyPath, Any], Any]


def _show(value: Any) -> str:
    """A value as the user wrote it, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def _mapping(doc: _Doc, path: KeyPath, value: Any) -> Mapping[str, Any]:
    """`value` as a mapping; null counts as empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise doc.error(path, f"expected a mapping, got {_show(value)}")
    return value


def _check_top_level(doc: _Doc, data: Any) -> None:
    if not isinstance(data, Mapping):
        raise doc.error((), f"expected a mapping of settings (like 'start_urls: [...]') at the "
                            f"top level, got {_show(data)}")


def _unknown_key(doc: _Doc, path: KeyPath, valid: Iterable[str], *,
                 name: str | None = None) -> ConfigError:
    """An "unknown key" error suggesting the closest valid key, else listing them all."""
    valid = list(valid)
    close = difflib.get_close_matches(name or str(path[-1]), valid, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "valid keys: " + ", ".join(valid)
    return doc.error(path, f"unknown key ({hint})", at_key=True)


def _build(doc: _Doc, path: KeyPath, value: Any, cls: type[Any], keys: Mapping[str, Validator],
           **fixed: Any) -> Any:
    """Validate a mapping key by key and make a `cls`; `fixed` are defaults for this one."""
    kwargs = dict(fixed)
    for key, item in _mapping(doc, path, value).items():
        check = keys.get(key)
        if check is None:
            raise _unknown_key(doc, (*path, str(key)), keys)
        kwargs[key] = check(doc, (*path, key), item)
    return cls(**kwargs)


def _section(cls: type[Any], keys: Mapping[str, Validator]) -> Validator:
    """A validator for a whole section mapping."""
    return lambda doc, path, value: _build(doc, path, value, cls, keys)


def _optional(check: Validator) -> Validator:
    """`check`, but null is allowed (and means "no limit" / "the default")."""
    return lambda doc, path, value: None if value is None else check(doc, path, value)


def _integer(minimum: int) -> Validator:
    def check(doc: _Doc, path: KeyPath, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise doc.error(path, f"expected an integer, got {_show(value)}")
        if value < minimum:
            raise doc.error(path, f"must be at least {minimum}, got {value}")
        return value
    return check


def _boolean(doc: _Doc, path: KeyPath, value: Any) -> bool:
    if not isinstance(value, bool):
        raise doc.error(path, f"expected true/false, got {_show(value)}")
    return value


def _string(doc: _Doc, path: KeyPath, value: Any) -> str:
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, int | float) else ""
        raise doc.error(path, f"expected a string, got {_show(value)}{hint}")
    if not value.strip():
        raise doc.error(path, "must not be empty")
    return value


def _product_token(doc: _Doc, path: KeyPath, value: Any) -> str:
    """A robots.txt product token (RFC 9309 §2.2.1): letters, '_' and '-'."""
    text = _string(doc, path, value).strip()
    if not re.fullmatch(r"[A-Za-z_-]+", text):
        raise doc.error(path, f"expected a product token of letters, '_' and '-' (like "
                              f"'mybot'), got {value!r}")
    return text


def _positive_number(doc: _Doc, path: KeyPath, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise doc.error(path, f"expected a number, got {_show(value)}")
    if not value > 0 or value == float("inf"):
        raise doc.error(path, f"must be a number greater than 0, got {_show(value)}")
    return float(value)


def _path_string(doc: _Doc, path: KeyPath, value: Any) -> str:
    return _string(doc, path, os.fspath(value) if isinstance(value, os.PathLike) else value)


def _choice(*options: str) -> Validator:
    def check(doc: _Doc, path: KeyPath, value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in options:
            valid = ", ".join(options)
            raise doc.error(path, f"expected one of {valid}; got {_show(value)}")
        return value.strip().lower()
    return check


def _duration(*, positive: bool) -> Validator:
    def check(doc: _Doc, path: KeyPath, value: Any) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise doc.error(path, str(exc)) from None
        if positive and seconds <= 0:
            raise doc.error(path, f"must be greater than 0, got {_show(value)}")
        return seconds
    return check


def _size(minimum: int) -> Validator:
    def check(doc: _Doc, path: KeyPath, value: Any) -> int:
        try:
            size = parse_size(value)
        except ValueError as exc:
            raise doc.error(path, str(exc)) from None
        if size < minimum:
            raise doc.error(path, f"must be at least {minimum} bytes, got {_show(value)}")
        return size
    return check


def _list_of(item: Validator) -> Validator:
    """A list whose items pass `item`, as a tuple; a lone string counts as a one-item list."""
    def check(doc: _Doc, path: KeyPath, value: Any) -> tuple[Any, ...]:
        if isinstance(value, str):
            return (item(doc, path, value),)
        if not isinstance(value, list | tuple):
            raise doc.error(path, f"expected a list of strings, got {_show(value)}")
        return tuple(item(doc, (*path, i), v) for i, v in enumerate(value))
    return check


def _status(doc: _Doc, path: KeyPath, value: Any) -> int:
    """An HTTP status code, 100-599."""
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise doc.error(path, f"expected an HTTP status code (100-599), got {_show(value)}")
    return value


def _url(doc: _Doc, path: KeyPath, value: Any) -> str:
    text = _string(doc, path, value).strip()
    try:
        url = URL(text)
        ok = url.scheme in ("http", "https") and bool(url.host) and url.port is not None
        ok = ok and not any(c.isspace() for c in url.host or "")
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise doc.error(path, f"invalid URL {text!r}: expected an absolute http:// or https:// "
                              "URL with a host, like 'https://example.com/'")
    return text


def _domain(doc: _Doc, path: KeyPath, value: Any) -> str:
    text = _string(doc, path, value).strip().lower().strip(".")
    if not re.fullmatch(r"[^\s/:?#@*]+", text):
        raise doc.error(path, f"expected a domain name like 'example.com' (no scheme, port "
                              f"or path), got {value!r}")
    return text


def _regex(doc: _Doc, path: KeyPath, value: Any) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise doc.error(path, f"expected a regular expression string, got {_show(value)}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise doc.error(path, f"invalid regular expression {value!r}: {exc}") from None


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _headers(doc: _Doc, path: KeyPath, value: Any) -> tuple[tuple[str, str], ...]:
    headers = []
    for name, text in _mapping(doc, path, value).items():
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise doc.error((*path, str(name)), "invalid header name", at_key=True)
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            hint = " (put it in quotes)" if isinstance(text, int | float) else ""
            raise doc.error((*path, name), f"expected a one-line string, got {_show(text)}{hint}")
        headers.append((name, text))
    return tuple(headers)


def _hosts(start_urls: Iterable[str]) -> tuple[str, ...]:
    """The distinct hosts (lower case, no port) of `start_urls`, in order."""
    hosts = (URL(url).host for url in start_urls)
    return tuple(dict.fromkeys(host.lower() for host in hosts if host))


def _with_default_domains(config: CrawlConfig) -> CrawlConfig:
    """Fill an empty scope.allowed_domains with the hosts of the start URLs."""
    if config.scope.allowed_domains or not config.start_urls:
        return config
    scope = replace(config.scope, allowed_domains=_hosts(config.start_urls))
    return replace(config, scope=scope)


def _flatten(doc: _Doc, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Expand {"limits": {"max_pages": 5}} into {"limits.max_pages": 5}."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in _SECTIONS:
            for name, item in _mapping(doc, (key,), value).items():
                flat[f"{key}.{name}"] = item
        else:
            flat[str(key)] = value
    return flat


# --------------------------------------------------------------------------- politeness.hosts

_HOST_RULE_KEYS: dict[str, Validator] = {
    "concurrency": _optional(_integer(1)),
    "delay": _optional(_duration(positive=False)),
}


def _host_rules(doc: _Doc, path: KeyPath, value: Any) -> tuple[HostRule, ...]:
    rules = []
    for pattern, rule in _mapping(doc, path, value).items():
        if not isinstance(pattern, str) or not pattern.strip():
            raise doc.error((*path, str(pattern)), "expected a host pattern like "
                            "'example.com' or '*.example.com'", at_key=True)
        rules.append(_build(doc, (*path, pattern), rule, HostRule, _HOST_RULE_KEYS,
                            pattern=pattern.strip().lower()))
    return tuple(rules)


# --------------------------------------------------------------------------- extract rules

_RULE_KEYS = ("match", "type", "fields")
_SUFFIX = re.compile(r"(text|html)|attr\(\s*([^\s()]+)\s*\)")
_SUFFIXES = "valid suffixes are ::text, ::attr(name), ::html"


def _extract(doc: _Doc, path: KeyPath, value: Any) -> tuple[ExtractRule, ...]:
    """One rule mapping or a list of them."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return (_extract_rule(doc, path, value),)
    if not isinstance(value, list | tuple):
        raise doc.error(path, f"expected a rule mapping or a list of them, got {_show(value)}")
    return tuple(_extract_rule(doc, (*path, i), rule) for i, rule in enumerate(value))


def _extract_rule(doc: _Doc, path: KeyPath, value: Any) -> ExtractRule:
    """{match, type, fields: {name: selector}}; without `fields`, other keys are the fields."""
    rule = _mapping(doc, path, value)
    if "fields" in rule:
        for key in rule:
            if key not in _RULE_KEYS:
                raise _unknown_key(doc, (*path, str(key)), _RULE_KEYS)
        fields_path, given = (*path, "fields"), _mapping(doc, (*path, "fields"), rule["fields"])
    else:
        fields_path, given = path, {k: v for k, v in rule.items() if k not in ("match", "type")}
    if not given:
        raise doc.error(fields_path, "no fields: expected 'fields: {name: \"css::text\", ...}'")
    return ExtractRule(
        match=_optional(_regex)(doc, (*path, "match"), rule.get("match")),
        type=_optional(_string)(doc, (*path, "type"), rule.get("type")),
        fields=tuple(_field(doc, (*fields_path, str(name)), str(name), selector)
                     for name, selector in given.items()),
    )


def _field(doc: _Doc, path: KeyPath, name: str, value: Any) -> FieldRule:
    """"css::suffix", or ["css::suffix"] for every match as a list."""
    if isinstance(value, Mapping) and difflib.get_close_matches(name, _RULE_KEYS, n=1):
        raise _unknown_key(doc, path, _RULE_KEYS)  # e.g. "feilds:" read as a field
    many = isinstance(value, list | tuple)
    if many:
        if len(value) != 1:
            raise doc.error(path, "a list means 'every match' and must hold exactly one "
                                  f"selector, got {len(value)} items")
        path, value = (*path, 0), value[0]
    if not isinstance(value, str):
        raise doc.error(path, "expected a selector like 'h1::text' or a one-element list "
                              f"like ['li::text'], got {_show(value)}")
    css, mode, attr = _selector(doc, path, value)
    return FieldRule(name=name, selector=css, attr=attr, mode=mode, many=many)


def _selector(doc: _Doc, path: KeyPath, text: str) -> tuple[str, Any, str | None]:
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


# --------------------------------------------------------------------------- the key tables

_SECTIONS: dict[str, tuple[type[Any], dict[str, Validator]]] = {
    "scope": (ScopeConfig, {
        "allowed_domains": _list_of(_domain),
        "allow_subdomains": _boolean,
        "include": _list_of(_regex),
        "exclude": _list_of(_regex),
        "max_depth": _optional(_integer(0)),
        "max_url_length": _integer(16),
        "max_path_segments": _integer(1),
        "max_repeated_segments": _integer(1),
    }),
    "limits": (LimitsConfig, {
        "max_pages": _optional(_integer(1)),
        "max_duration": _optional(_duration(positive=True)),
        "max_urls_per_host": _optional(_integer(1)),
        "max_urls_per_pattern": _optional(_integer(1)),
        "max_sitemap_size": _size(1),
        "max_sitemap_decompressed": _size(1),
        "max_sitemap_urls": _integer(1),
        "max_sitemap_depth": _integer(0),
        "max_sitemaps": _optional(_integer(1)),
    }),
    "politeness": (PolitenessConfig, {
        "robots_txt": _choice("obey", "ignore"),
        "per_host_concurrency": _integer(1),
        "per_host_delay": _duration(positive=False),
        "hosts": _host_rules,
        "max_retry_after": _duration(positive=True),
        "robots_agent": _optional(_product_token),
        "robots_ttl": _duration(positive=True),
        "robots_tries": _integer(1),
        "robots_backoff": _duration(positive=True),
        "robots_max_backoff": _duration(positive=True),
        "max_crawl_delay": _duration(positive=False),
        "noindex": _choice("obey", "ignore"),
        "nofollow": _choice("obey", "ignore"),
        "rel_nofollow": _choice("follow", "skip"),
        "adaptive": _boolean,
        "target_concurrency": _positive_number,
        "max_delay": _duration(positive=True),
    }),
    "fetch": (FetchConfig, {
        "concurrency": _integer(1),
        "timeout": _duration(positive=True),
        "connect_timeout": _duration(positive=True),
        "read_timeout": _duration(positive=True),
        "max_body_size": _size(1),
        "max_redirects": _integer(0),
        "user_agent": _string,
        "headers": _headers,
        "parse_in_thread_above": _size(0),
        "retries": _integer(0),
        "retry_statuses": _list_of(_status),
        "backoff": _duration(positive=False),
        "max_backoff": _duration(positive=True),
    }),
    "store": (StoreConfig, {"body": _boolean, "text": _boolean, "links": _boolean,
                             "markdown": _boolean,
                             "non_html": _choice("metadata", "body", "skip")}),
}

_TOP_KEYS: dict[str, Validator] = {
    "name": _string,
    "start_urls": _list_of(_url),
    "sitemaps": _boolean,
    "output": _optional(_path_string),
    "frontier": _choice("sqlite", "memory"),
    "resume": _choice("auto", "always", "never"),
    "recrawl": _boolean,
    **{name: _section(cls, keys) for name, (cls, keys) in _SECTIONS.items()},
    "extract": _extract,
}
