"""Crawl configuration: frozen, typed dataclasses and their YAML loading.

Every mistake is reported as a ConfigError that reads

    configs/x.yaml:12: fetch.concurency: unknown key (did you mean 'concurrency'?)

Each key is declared once, as a dataclass field in `model`:

    concurrency: int = key(16, integer(1), "worker tasks: requests in flight over all hosts")

which gives its type, default, validator and documentation; the loader's key
tables and the README's reference table are read off those declarations.

The parts, each with one job:

- `model`: the dataclasses (CrawlConfig and its sections), which hold every default.
- `rules`: the nested rules (`politeness.hosts`, `extract`) and how each is read.
- `checks`: the validators, one per kind of value (integer, duration, size, ...), and `key()`.
- `source`: where values came from (file and line), for the messages.
- `loader`: YAML files, plain dicts and dotted overrides into a CrawlConfig.
- `reference`: the README's configuration reference table (`python -m crawler.config.reference`).
"""

from __future__ import annotations

from crawler.config.loader import (
    OVERRIDE_SOURCE,
    apply_overrides,
    config_from_dict,
    load_config,
    parse_overrides,
)
from crawler.config.model import (
    DEFAULT_USER_AGENT,
    CrawlConfig,
    FetchConfig,
    LimitsConfig,
    PolitenessConfig,
    ScopeConfig,
    StoreConfig,
    UrlsConfig,
)
from crawler.config.rules import ExtractRule, FieldRule, HostRule

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
    "UrlsConfig",
    "apply_overrides",
    "config_from_dict",
    "load_config",
    "parse_overrides",
]
