"""Pure URL helpers on yarl: canonical form, joining, host keys and scope.

The canonical form is what deduplication compares: scheme and host lower
case, default port dropped, an empty path made "/", dot segments resolved,
percent-encoding normalised (unreserved characters decoded, the rest
upper-case escapes), the fragment dropped. yarl does all but the fragment when it parses a URL, so
canonicalizing is one parse and one `with_fragment(None)`.

That is the base form. A crawl's form (`Canonicalizer`, from the `urls`
settings) adds the query rules on top: parameters sorted by name, and
tracking or session parameters dropped. The rules read the query text of a
URL already in the base form, so a URL without a query costs one `find`.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import translate
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from yarl import URL

HTTP_SCHEMES = frozenset({"http", "https"})

# Hrefs that can never become a fetchable URL; checked on the raw text so the
# common junk (mailto:, javascript:, tel:) costs no URL parse.
_NON_HTTP = re.compile(r"^\s*(mailto|javascript|tel|data|ftp|file|sms|about|blob):", re.I)


class Rejected(ValueError):
    """A URL that cannot be crawled; `reason` is the dropped-counter name."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


def reject_other_schemes(href: str) -> None:
    """Raise Rejected("scheme") for the common hrefs that are not http(s) (mailto:,
    javascript:, tel:, ...) from the text, without parsing it."""
    if _NON_HTTP.match(href):
        raise Rejected("scheme", f"not an http(s) URL: {href[:80]}")


def canonicalize(url: str | URL) -> str:
    """The canonical text form of an absolute http(s) URL; raises Rejected."""
    parsed = url if isinstance(url, URL) else _parse(url)
    try:
        _check_http(parsed)
        text = str(parsed.with_fragment(None))
    except Rejected:
        raise
    except ValueError as exc:  # yarl parses the authority lazily: "http://[zz::1]/"
        shown = url if isinstance(url, str) else "a URL with a malformed authority"
        raise Rejected("invalid_url", f"{exc}: {shown[:200]}") from None
    if parsed.raw_path == "/" and not parsed.raw_query_string and not text.endswith("/"):
        text += "/"  # "http://a.com" and "http://a.com/" are one resource
    return text


def join(base: str | URL, href: str) -> str:
    """Resolve `href` against `base` and canonicalize; raises Rejected.

    Reasons: 'scheme' for mailto:, javascript: and other non-http schemes,
    'invalid_url' for text that is not a URL with a host.
    """
    reject_other_schemes(href)
    base_url = base if isinstance(base, URL) else parse_url(base)
    try:
        relative = URL(href.strip())
        joined = base_url.join(relative)
    except (ValueError, TypeError) as exc:
        raise Rejected("invalid_url", f"{exc}: {href[:200]}") from None
    if relative.scheme and not relative.host:
        # "http://" or "https:///x": yarl would quietly resolve these against the base.
        raise Rejected("invalid_url", f"no host: {href[:200]}")
    return canonicalize(joined)


# Characters that yarl leaves as they are in a path and a query: an href made
# only of these needs no quoting, so it can be resolved with string operations.
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~/!$&'()*+,;=:@]+")
_PLAIN_QUERY = re.compile(r"[A-Za-z0-9\-._~/!$&'()*,;=:@?]+")
# The same after `_encode_non_ascii`, whose escapes are the only "%" then.
_ENCODED_PATH = re.compile(r"[A-Za-z0-9\-._~/!$&'()*+,;=:@%]+")
_ENCODED_QUERY = re.compile(r"[A-Za-z0-9\-._~/!$&'()*,;=:@?%]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _encode_non_ascii(href: str) -> str | None:
    """`href` with its non-ASCII characters percent-encoded as yarl encodes them (UTF-8,
    upper-case hex: "é" → "%C3%A9"), or None when yarl must decide: an href that has
    "%" of its own (yarl normalizes escapes), or space at an end (which it strips)."""
    if "%" in href or href[:1].isspace() or href[-1:].isspace():
        return None
    try:
        return _NON_ASCII.sub(_quote_match, href)
    except UnicodeEncodeError:  # a lone surrogate
        return None


def _quote_match(match: re.Match[str]) -> str:
    return quote(match.group(), safe="")


def join_plain(origin: str, directory: str, href: str) -> str | None:
    """The fast path of `join` for plain relative hrefs ("a/b.html", "/x", "../y?q=1").

    `origin` is "scheme://authority" of the base, `directory` its path up to
    the last "/". Returns None when the href needs the full parser; the
    property test in tests/test_urls.py checks it agrees with `join`.
    """
    plain_path, plain_query = _PLAIN_PATH, _PLAIN_QUERY
    if not href.isascii():  # "légammail/10-0.html": yarl took ~10 us to encode the "é"
        encoded = _encode_non_ascii(href)
        if encoded is None:
            return None
        href, plain_path, plain_query = encoded, _ENCODED_PATH, _ENCODED_QUERY
    path, _, _fragment = href.partition("#")
    path, has_query, query = path.partition("?")
    if not path or "//" in path or not plain_path.fullmatch(path):
        return None
    if has_query and not plain_query.fullmatch(query):
        return None
    if path[0] != "/":
        if ":" in path.partition("/")[0]:
            return None  # "a:b" is a scheme, not a path
        path = f"{directory}/{path}"
    if "/." in path:  # a dot segment follows a "/" (the path is absolute); "a.html" is none
        path = remove_dot_segments(path)
    return f"{origin}{path}?{query}" if has_query else f"{origin}{path}"


_PLAIN_ABSOLUTE = re.compile(r"(https?)://([a-z0-9](?:[a-z0-9\-.]*[a-z0-9])?)(?::([1-9][0-9]{0,4}))?"
                             r"(?=[/?#]|$)", re.I)
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonicalize_plain(href: str) -> str | None:
    """The fast path of `canonicalize` for plain absolute http(s) URLs.

    "HTTP://Example.com:80/a/./b#x" → "http://example.com/a/b". Returns None
    for anything unusual (user info, IPv6, IDN, odd ports, characters that
    need quoting); the property test checks it agrees with `canonicalize`.
    """
    match = _PLAIN_ABSOLUTE.match(href)
    if match is None or ".." in match.group(2) or _port_over(match.group(3)):
        return None
    scheme, host, port = match.group(1).lower(), match.group(2).lower(), match.group(3)
    if host[-1].isdigit() and not _numeric_host_ok(host):
        return None  # "1.2.3.4.5": the full parser rejects it
    origin = f"{scheme}://{host}"
    if port is not None and int(port) != _DEFAULT_PORTS[scheme]:
        origin = f"{origin}:{port}"
    rest = href[match.end():]
    if not rest or rest[0] in "?#":
        rest = "/" + rest
    return join_plain(origin, "", rest)


def plain_host_key(canonical: str) -> str:
    """`host_key` of a canonical URL, by string operations where its authority is plain.

    For a URL yarl has not parsed yet this is ~15x cheaper than parsing it: the
    links a crawl drops as off-site are mostly such, each seen once. Hosts that
    `host_key` writes differently from the URL (punycode "xn--" labels, which it
    decodes; IPv6 in brackets; user info) go to it. The property test checks the
    two agree.

    Interned: every URL waiting in the frontier's batch keeps its host key, and
    a long crawl's batch holds ~20,000 of the same few (1.9 MB as copies).
    """
    scheme, _, rest = canonical.partition("://")
    authority = rest.partition("/")[0]
    if "xn--" in authority or "[" in authority or "@" in authority or scheme not in _DEFAULT_PORTS:
        key = host_key(canonical)
    elif ":" in authority:
        key = f"{scheme}://{authority}"
    else:
        key = f"{scheme}://{authority}:{_DEFAULT_PORTS[scheme]}"
    return sys.intern(key)


def _port_over(port: str | None) -> bool:
    """Whether a port the plain pattern took (up to five digits) is past 65535."""
    return port is not None and len(port) == 5 and int(port) > 65535


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for segment in segments:
        if segment == "..":
            if out:
                out.pop()
        elif segment != ".":
            out.append(segment)
    if segments[-1] in (".", ".."):
        out.append("")  # "/a/b/.." is the directory "/a/"
    return "/" + "/".join(out)


def path_and_query(url: str) -> tuple[str, str]:
    """The path and query of a canonical URL, by string operations (no parse)."""
    rest = url[url.index("://") + 3:] if "://" in url else url
    slash = rest.find("/")
    path_query = rest[slash:] if slash >= 0 else "/"
    path, _, query = path_query.partition("?")
    return path, query


def host_key(url: str | URL) -> str:
    """`scheme://host:port` — the unit of politeness (RFC 9309 uses the same origin)."""
    parsed = url if isinstance(url, URL) else parse_url(url)
    return f"{parsed.scheme}://{parsed.host}:{parsed.port}"


def host_of(url: str) -> str:
    """The lower-case host name of a URL (no port)."""
    return (parse_url(url).host or "").lower()


def host_in_key(key: str) -> str:
    """`host_of` a URL, from its `host_key` ("http://[::1]" keys as "http://::1:80")."""
    return key[key.index("://") + 3:key.rindex(":")].lower()


def domain_allowed(host: str, allowed: Sequence[str], *, subdomains: bool) -> bool:
    """Whether `host` is one of `allowed`, or (with `subdomains`) below one."""
    if not allowed or host in allowed:
        return True
    return subdomains and host.endswith(_subdomain_suffixes(tuple(allowed)))


@lru_cache(maxsize=16)
def _subdomain_suffixes(allowed: tuple[str, ...]) -> tuple[str, ...]:
    # One endswith over a tuple, not a generator per host: asked for every new URL.
    return tuple("." + domain for domain in allowed)


def _parse(url: str) -> URL:
    try:
        return URL(url.strip())
    except (ValueError, TypeError) as exc:
        raise Rejected("invalid_url", f"{exc}: {url[:200]}") from None


def _check_http(url: URL) -> None:
    if not url.scheme:
        raise Rejected("invalid_url", f"not an absolute URL: {str(url)[:200]}")
    if url.scheme not in HTTP_SCHEMES:
        raise Rejected("scheme", f"not an http(s) URL: {str(url)[:80]}")
    if not url.host:
        raise Rejected("invalid_url", f"no host: {str(url)[:200]}")
    if not _host_ok(url.raw_host or ""):
        raise Rejected("invalid_url", f"malformed host: {str(url)[:200]}")
    url.port  # noqa: B018  (parses the port now, so a bad one is rejected here)


# WHATWG URL "forbidden domain code points" (the ASCII ones): no fetchable host has them.
_FORBIDDEN_IN_HOST = re.compile(r"[\x00-\x20\x7f#%/<>?@\[\\\]^|]")


@lru_cache(maxsize=4096)
def _host_ok(host: str) -> bool:
    """Whether `host` (IDNA-encoded, as yarl holds it) can name a server.

    Rejects what yarl lets through: spaces and other forbidden characters,
    empty labels ("a..b"), over-long names, bad IPv6 ("[zz::1]") and names
    ending in a number that are not IPv4 addresses ("1.2.3.4.5").
    """
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return False
        return True
    if len(host) > 253 or _FORBIDDEN_IN_HOST.search(host) or host.startswith("."):
        return False
    if ".." in host:
        return False
    return not host[-1:].isdigit() or _numeric_host_ok(host)


@lru_cache(maxsize=1024)
def _numeric_host_ok(host: str) -> bool:
    """A host whose last label is a number must be an IPv4 address (WHATWG)."""
    try:
        ipaddress.IPv4Address(host.rstrip("."))
    except ValueError:
        return False
    return True


@lru_cache(maxsize=4096)
def parse_url(url: str) -> URL:
    """Parse with a cache; raises Rejected. Do not mutate what it returns (URLs are immutable)."""
    # Pages are resolved against the same few bases over and over (the page
    # URL for all its links, the host key for every request).
    return _parse(url)


@dataclass(frozen=True, slots=True)
class Canonicalizer:
    """The canonical form of one crawl: the base form, then the query rules.

    `sort_query`: parameters in order of their names (code points of the
    encoded name), stable, so repeated names keep their order
    (`b=2&a=1&b=1` → `a=1&b=2&b=1`) and empty ones (`a=1&&b=2`) go.
    `drop`: names or globs (`utm_*`), case-insensitive, of query parameters to
    leave out, and of `;name=value` path parameters (`/a;jsessionid=X`).
    Neither: the base form, exactly (a crawl begun before schema version 7).
    """

    sort_query: bool = True
    drop: tuple[str, ...] = ()
    _dropped: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _identity: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        globs = "|".join(translate(name) for name in self.drop)
        object.__setattr__(self, "_dropped", re.compile(globs, re.I) if globs else None)
        object.__setattr__(self, "_identity", not self.sort_query and not self.drop)

    def apply(self, url: str) -> str:
        """`url`, canonical in the base form, in this form."""
        if self._identity:
            return url
        if self._dropped is not None and ";" in url:
            url = self._without_path_parameters(url)
        at = url.find("?")
        if at < 0:
            return url
        if self._dropped is None and "&" not in url[at:]:
            return url  # one parameter: nothing to sort (an empty query is gone already)
        pairs = url[at + 1:].split("&")
        if "" in pairs:
            pairs = [pair for pair in pairs if pair]
        if self._dropped is not None:
            dropped = self._dropped.match
            pairs = [pair for pair in pairs if not dropped(pair.partition("=")[0])]
        if self.sort_query:
            pairs.sort(key=_name)  # list.sort is stable: repeated names keep their order
        return url[:at + 1] + "&".join(pairs) if pairs else url[:at]

    def canonicalize(self, url: str | URL) -> str:
        """`canonicalize(url)` in this form; raises Rejected."""
        return self.apply(canonicalize(url))

    def join(self, base: str | URL, href: str) -> str:
        """`join(base, href)` in this form; raises Rejected."""
        return self.apply(join(base, href))

    def join_plain(self, origin: str, directory: str, href: str) -> str | None:
        """`join_plain` in this form (None: the href needs the full parser)."""
        plain = join_plain(origin, directory, href)
        if plain is None or ("?" not in href and self._dropped is None):
            return plain  # no query: the base form is this form (and costs no call)
        return self.apply(plain)

    def canonicalize_plain(self, href: str) -> str | None:
        """`canonicalize_plain` in this form (None: it needs the full parser)."""
        plain = canonicalize_plain(href)
        if plain is None or ("?" not in href and self._dropped is None):
            return plain
        return self.apply(plain)

    def to_json(self) -> dict[str, Any]:
        """What `crawls.url_form` stores, and `from_json` reads back."""
        return {"sort_query": self.sort_query, "drop_params": list(self.drop)}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Canonicalizer:
        """The form a crawl recorded; None (a crawl begun before schema 7): the base form."""
        if data is None:
            return BASE_FORM
        return cls(sort_query=bool(data.get("sort_query", True)),
                   drop=tuple(data.get("drop_params") or ()))

    def _without_path_parameters(self, url: str) -> str:
        """`url` without the `;name=value` path parameters whose name is dropped."""
        at = url.find("?")
        path_end = len(url) if at < 0 else at
        start = url.find("/", url.find("://") + 3)
        if start < 0 or ";" not in url[start:path_end]:
            return url
        segments = url[start:path_end].split("/")
        assert self._dropped is not None
        for i, segment in enumerate(segments):
            if ";" in segment:
                first, *params = segment.split(";")
                kept = [p for p in params if not self._dropped.match(p.partition("=")[0])]
                segments[i] = ";".join([first, *kept])
        return url[:start] + "/".join(segments) + url[path_end:]


def _name(pair: str) -> str:
    return pair.partition("=")[0]


BASE_FORM = Canonicalizer(sort_query=False)  # query as written: crawls begun before schema 7
DEFAULT_FORM = Canonicalizer()  # parameters sorted, nothing dropped
