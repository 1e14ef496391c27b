"""The validators, and `key()`, which declares a config key on a dataclass field.

A validator is `check(doc, path, value)`: `value` is plain data as YAML or a
dict gives it, `path` is where it sits, and a mistake is raised as
`doc.error(path, ...)` so it names the file, line and key. One validator per
kind of value (integer, duration, size, regex list, ...) serves YAML files,
plain dicts and dotted overrides alike.

Each key is declared once, as a field of its section's dataclass:

    concurrency: int = key(16, integer(1), "worker tasks: requests in flight over all hosts")

The field's metadata carries the validator and the documentation, so the key
tables the loader uses (`validators`) and the README's reference table are read
off the dataclasses rather than written out again.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, TypeAlias

from yarl import URL

from crawler.config.source import Doc, KeyPath
from crawler.errors import ConfigError
from crawler.units import parse_duration, parse_size

Validator: TypeAlias = Callable[[Doc, KeyPath, Any], Any]


def show(value: Any) -> str:
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


def mapping(doc: Doc, path: KeyPath, value: Any) -> Mapping[str, Any]:
    """`value` as a mapping; null counts as empty."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise doc.error(path, f"expected a mapping, got {show(value)}")
    return value


def unknown_key(doc: Doc, path: KeyPath, valid: Iterable[str], *,
                name: str | None = None) -> ConfigError:
    """An "unknown key" error suggesting the closest valid key, else listing them all."""
    valid = list(valid)
    close = difflib.get_close_matches(name or str(path[-1]), valid, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "valid keys: " + ", ".join(valid)
    return doc.error(path, f"unknown key ({hint})", at_key=True)


def build(doc: Doc, path: KeyPath, value: Any, cls: type[Any], keys: Mapping[str, Validator],
          **fixed: Any) -> Any:
    """Validate a mapping key by key and make a `cls`; `fixed` are defaults for this one.

    A key with a mistake is noted in `doc` and left at its default, so every
    mistake of the mapping is found; the caller ends with `doc.raise_problems()`.
    """
    kwargs = dict(fixed)
    for name, item in mapping(doc, path, value).items():
        with doc.collecting():  # a bad key is noted; the others are still read
            check = keys.get(name)
            if check is None:
                raise unknown_key(doc, (*path, str(name)), keys)
            kwargs[name] = check(doc, (*path, name), item)
    return cls(**kwargs)


# --------------------------------------------------------------------------- declaring keys

_KEY = "crawler.config.key"  # the dataclass field metadata entry that holds a Key


@dataclass(frozen=True, slots=True)
class Key:
    """One config key as declared on its field: how it is checked and documented."""

    check: Validator
    doc: str  # the README's "meaning" column
    shown: str | None = None  # the README's "default" column, when the plain value is not right
    section: type[Any] | None = None  # set for a section: the class whose keys it holds


def key(default: Any, check: Validator, doc: str, *, shown: str | None = None) -> Any:
    """A dataclass field that is a config key: its default, validator and documentation.

    `shown` is markdown for the default when its plain value would mislead:
    "unlimited", "the start URLs' hosts", "`10MB`" rather than 10485760.
    """
    if not doc.strip() or "\n" in doc:
        raise ValueError(f"document the key in one line, got {doc!r}")
    return field(default=default, metadata={_KEY: Key(check, doc, shown)})


def section(cls: type[Any]) -> Any:
    """A field holding a whole section: a mapping of the keys declared on `cls`."""
    keys = validators(cls)

    def check(doc: Doc, path: KeyPath, value: Any) -> Any:
        return build(doc, path, value, cls, keys)
    return field(default_factory=cls,
                 metadata={_KEY: Key(check, (cls.__doc__ or "").strip(), section=cls)})


def keys_of(cls: type[Any]) -> dict[str, Key]:
    """The keys declared on `cls`, in declaration order; fields without key() are not keys."""
    return {f.name: f.metadata[_KEY] for f in fields(cls) if _KEY in f.metadata}


def validators(cls: type[Any]) -> dict[str, Validator]:
    """Key name → validator for the keys declared on `cls`."""
    return {name: declared.check for name, declared in keys_of(cls).items()}


# --------------------------------------------------------------------------- one value

def optional(check: Validator) -> Validator:
    """`check`, but null is allowed (and means "no limit" / "the default")."""
    return lambda doc, path, value: None if value is None else check(doc, path, value)


def auto_or(check: Validator) -> Validator:
    """`check`, but `auto` (or null) is allowed and means "decided at run time"."""
    return lambda doc, path, value: None if value in (None, "auto") else check(doc, path, value)


def integer(minimum: int) -> Validator:
    def check(doc: Doc, path: KeyPath, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise doc.error(path, f"expected an integer, got {show(value)}")
        if value < minimum:
            raise doc.error(path, f"must be at least {minimum}, got {value}")
        return value
    return check


def boolean(doc: Doc, path: KeyPath, value: Any) -> bool:
    if not isinstance(value, bool):
        raise doc.error(path, f"expected true/false, got {show(value)}")
    return value


def string(doc: Doc, path: KeyPath, value: Any) -> str:
    if not isinstance(value, str):
        hint = " (put it in quotes)" if isinstance(value, int | float) else ""
        raise doc.error(path, f"expected a string, got {show(value)}{hint}")
    if not value.strip():
        raise doc.error(path, "must not be empty")
    return value


def product_token(doc: Doc, path: KeyPath, value: Any) -> str:
    """A robots.txt product token (RFC 9309 §2.2.1): letters, '_' and '-'."""
    text = string(doc, path, value).strip()
    if not re.fullmatch(r"[A-Za-z_-]+", text):
        raise doc.error(path, f"expected a product token of letters, '_' and '-' (like "
                              f"'mybot'), got {value!r}")
    return text


def schema_type(doc: Doc, path: KeyPath, value: Any) -> str:
    """A schema.org type name: `Product`, `NewsArticle` (a URL's last part is taken)."""
    text = string(doc, path, value).strip().rsplit("/", 1)[-1]
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", text):
        raise doc.error(path, f"expected a schema.org type name like 'Product' or 'Recipe', "
                              f"got {value!r}")
    return text


def positive_number(doc: Doc, path: KeyPath, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise doc.error(path, f"expected a number, got {show(value)}")
    if not value > 0 or value == float("inf"):
        raise doc.error(path, f"must be a number greater than 0, got {show(value)}")
    return float(value)


def path_string(doc: Doc, path: KeyPath, value: Any) -> str:
    return string(doc, path, os.fspath(value) if isinstance(value, os.PathLike) else value)


def choice(*options: str) -> Validator:
    def check(doc: Doc, path: KeyPath, value: Any) -> str:
        if not isinstance(value, str) or value.strip().lower() not in options:
            valid = ", ".join(options)
            raise doc.error(path, f"expected one of {valid}; got {show(value)}")
        return value.strip().lower()
    return check


def duration(*, positive: bool) -> Validator:
    def check(doc: Doc, path: KeyPath, value: Any) -> float:
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise doc.error(path, str(exc)) from None
        if positive and seconds <= 0:
            raise doc.error(path, f"must be greater than 0, got {show(value)}")
        return seconds
    return check


def size(minimum: int) -> Validator:
    def check(doc: Doc, path: KeyPath, value: Any) -> int:
        try:
            count = parse_size(value)
        except ValueError as exc:
            raise doc.error(path, str(exc)) from None
        if count < minimum:
            raise doc.error(path, f"must be at least {minimum} bytes, got {show(value)}")
        return count
    return check


def list_of(item: Validator) -> Validator:
    """A list whose items pass `item`, as a tuple; a lone string counts as a one-item list."""
    def check(doc: Doc, path: KeyPath, value: Any) -> tuple[Any, ...]:
        if isinstance(value, str):
            return (item(doc, path, value),)
        if not isinstance(value, list | tuple):
            raise doc.error(path, f"expected a list of strings, got {show(value)}")
        good = []
        for i, v in enumerate(value):
            with doc.collecting():
                good.append(item(doc, (*path, i), v))
        return tuple(good)
    return check


def param_names(when_true: tuple[str, ...]) -> Validator:
    """`false` (none), `true` (`when_true`), or a list of query parameter names and globs."""
    def check(doc: Doc, path: KeyPath, value: Any) -> tuple[str, ...]:
        if isinstance(value, bool):
            return when_true if value else ()
        if not isinstance(value, str | list | tuple):
            raise doc.error(path, f"expected true, false or a list of parameter names, "
                                  f"got {show(value)}")
        return list_of(_param_name)(doc, path, value)
    return check


def _param_name(doc: Doc, path: KeyPath, value: Any) -> str:
    text = string(doc, path, value).strip()
    if re.search(r"[\s&=#/;]", text):
        raise doc.error(path, f"expected a parameter name or glob like 'utm_*' (no spaces, "
                              f"'&', '=', '#', '/' or ';'), got {value!r}")
    return text


def status(doc: Doc, path: KeyPath, value: Any) -> int:
    """An HTTP status code, 100-599."""
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 599:
        raise doc.error(path, f"expected an HTTP status code (100-599), got {show(value)}")
    return value


def url(doc: Doc, path: KeyPath, value: Any) -> str:
    text = string(doc, path, value).strip()
    try:
        parsed = URL(text)
        ok = parsed.scheme in ("http", "https") and bool(parsed.host)
        ok = ok and parsed.port is not None and not any(c.isspace() for c in parsed.host or "")
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise doc.error(path, f"invalid URL {text!r}: expected an absolute http:// or https:// "
                              "URL with a host, like 'https://example.com/'")
    return text


def frontier_location(doc: Doc, path: KeyPath, value: Any) -> str:
    """`sqlite`, `memory`, or a Redis URL (redis://, rediss:// for TLS) shared by a cluster."""
    text = string(doc, path, value).strip()
    if text.lower() in ("sqlite", "memory"):
        return text.lower()
    try:
        parsed = URL(text)
        ok = parsed.scheme in ("redis", "rediss") and bool(parsed.host)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise doc.error(path, f"expected sqlite, memory or a Redis URL like "
                              f"'redis://127.0.0.1:6379/0', got {redacted(text)!r}")
    return text


def redacted(location: str) -> str:
    """`location` with any password replaced by ***, for messages, logs and crawls.config."""
    try:
        parsed = URL(location)
    except (ValueError, TypeError):
        return location
    if parsed.password is None:
        return location
    return str(parsed.with_password("***"))


def domain(doc: Doc, path: KeyPath, value: Any) -> str:
    text = string(doc, path, value).strip().lower().strip(".")
    if not re.fullmatch(r"[^\s/:?#@*]+", text):
        raise doc.error(path, f"expected a domain name like 'example.com' (no scheme, port "
                              f"or path), got {value!r}")
    return text


def regex(doc: Doc, path: KeyPath, value: Any) -> re.Pattern[str]:
    if not isinstance(value, str):
        raise doc.error(path, f"expected a regular expression string, got {show(value)}")
    try:
        return re.compile(value)
    except re.error as exc:
        raise doc.error(path, f"invalid regular expression {value!r}: {exc}") from None


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token


def http_headers(doc: Doc, path: KeyPath, value: Any) -> tuple[tuple[str, str], ...]:
    result = []
    for name, text in mapping(doc, path, value).items():
        with doc.collecting():
            result.append(_header(doc, path, name, text))
    return tuple(result)


def _header(doc: Doc, path: KeyPath, name: Any, text: Any) -> tuple[str, str]:
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise doc.error((*path, str(name)), "invalid header name", at_key=True)
    if not isinstance(text, str) or "\n" in text or "\r" in text:
        hint = " (put it in quotes)" if isinstance(text, int | float) else ""
        raise doc.error((*path, name), f"expected a one-line string, got {show(text)}{hint}")
    return name, text
