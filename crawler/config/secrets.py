"""Secrets in a config: read from the environment, never stored or logged.

A value that carries a credential (a proxy URL, a password, a token, a
per-host header, a preset cookie) may name environment variables instead of
holding the secret: `"${API_TOKEN}"`, `"http://me:${PROXY_PASSWORD}@proxy:3128"`.
The config keeps the reference as written; the fetcher expands it when it
opens. So `crawls.config` in the database holds `${API_TOKEN}`, and a secret
written out in the YAML is stored as `***`.
"""

from __future__ import annotations

import functools
import os
import re

from yarl import URL

from crawler.config.source import Doc, KeyPath
from crawler.errors import ConfigError

REDACTED = "***"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def references(text: str) -> list[str]:
    """The environment variables `text` names."""
    return _REFERENCE.findall(text)


def check(doc: Doc, path: KeyPath, text: str) -> str:
    """`text` as written, once every variable it names is set (else a ConfigError)."""
    missing = [name for name in references(text) if name not in os.environ]
    if missing:
        raise doc.error(path, f"environment variable {missing[0]} is not set (the value "
                              f"names it as ${{{missing[0]}}})")
    return text


def expand(text: str) -> str:
    """`text` with each `${NAME}` replaced by that environment variable."""
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"environment variable {name} is not set (a secret in the "
                              f"config names it as ${{{name}}})")
        return os.environ[name]
    return _REFERENCE.sub(value, text)


def redact(text: str) -> str:
    """As stored: a value naming variables stays as written, a literal secret is `***`."""
    return text if references(text) else REDACTED


def redact_url(url: str) -> str:
    """A proxy URL as stored or logged: its password `***` unless it names a variable."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return REDACTED
    if parsed.password is None or references(url):
        return url
    return str(parsed.with_password(REDACTED))


def plain_url(url: str) -> str:
    """A proxy URL without its credentials: how it is named in stats and errors."""
    try:
        return str(URL(url).with_user(None))
    except (ValueError, TypeError):
        return REDACTED


# Header names whose values are credentials (compared lower case, by substring for the rest).
_CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_CREDENTIAL_WORDS = ("token", "secret", "password", "passwd", "auth", "session", "key",
                     "signature", "credential")


@functools.lru_cache(maxsize=1024)
def sensitive(header: str) -> bool:
    """A header whose value is a credential: Authorization, Cookie, X-Api-Key, ..."""
    name = header.lower()
    return name in _CREDENTIAL_HEADERS or any(word in name for word in _CREDENTIAL_WORDS)


def redact_header(name: str, value: str) -> str:
    """A configured header's value as stored: a credential written out is `***`."""
    return value if references(value) or not sensitive(name) else REDACTED


def redact_sent(name: str, value: str) -> str:
    """A header as sent, for `pages.request_headers`: credentials hidden, their shape kept
    (`Basic ***`, `session=***; lang=***`)."""
    lowered = name.lower()
    if not sensitive(lowered):
        return value
    if lowered in ("authorization", "proxy-authorization"):
        scheme, _, rest = value.partition(" ")
        return f"{scheme} {REDACTED}" if rest else REDACTED
    if lowered == "cookie":
        return "; ".join(f"{part.partition('=')[0].strip()}={REDACTED}"
                         for part in value.split(";") if part.strip())
    return REDACTED
