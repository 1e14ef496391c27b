"""Reading configs: YAML files, plain dicts and dotted overrides into a CrawlConfig.

YAML is read with `yaml.compose` (no tags are ever constructed, only plain
scalars) so each key and value keeps its line for the messages. YAML booleans
follow YAML 1.2: only true/false (any case) are booleans, so `yes`, `no`, `on`
and `off` are plain strings and `allow_subdomains: yes` is an error rather than
a silent surprise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yarl import URL

from crawler.config.checks import (
    Validator,
    build,
    keys_of,
    mapping,
    show,
    unknown_key,
    validators,
)
from crawler.config.model import CrawlConfig
from crawler.config.source import Doc, KeyPath, dotted
from crawler.errors import ConfigError

OVERRIDE_SOURCE = "command line (-s)"


# --------------------------------------------------------------------------- public functions

def load_config(path: str | Path, overrides: Sequence[str] = ()) -> CrawlConfig:
    """Read a YAML config file, then apply "-s section.key=value" overrides."""
    path = Path(path)
    source = str(path)
    data, doc = read_yaml(_read_text(path), source)
    if data is None:
        raise ConfigError("the file is empty; expected settings like 'start_urls: [...]'",
                          source=source)
    _check_top_level(doc, data)
    config = build(doc, (), data, CrawlConfig, _TOP_KEYS, name=path.stem, source=source)
    doc.raise_problems()  # every mistake in the file, in file order
    return apply_overrides(config, parse_overrides(overrides), source=OVERRIDE_SOURCE)


def config_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> CrawlConfig:
    """Validate a nested dict (shaped like the YAML file) into a CrawlConfig."""
    doc = Doc(source)
    _check_top_level(doc, data)
    config = build(doc, (), data, CrawlConfig, _TOP_KEYS)
    doc.raise_problems()
    return _with_default_domains(config)


def apply_overrides(config: CrawlConfig, overrides: Mapping[str, Any], *,
                    source: str = "overrides") -> CrawlConfig:
    """Return `config` with dotted keys replaced: {"fetch.concurrency": 8, "output": "x.db"}.

    A bare section name takes a mapping of its keys: {"limits": {"max_pages": 5}}.
    """
    doc = Doc(source)
    top: dict[str, Any] = {}
    sections: dict[str, dict[str, Any]] = {}
    for key, value in _flatten(doc, overrides).items():
        with doc.collecting():
            _override(doc, key, value, top, sections)
    doc.raise_problems()
    changed = {name: replace(getattr(config, name), **kw) for name, kw in sections.items()}
    new = replace(config, **top, **changed)
    derived = _hosts(config.start_urls)
    if new.start_urls != config.start_urls and new.scope.allowed_domains == derived:
        new = replace(new, scope=replace(new.scope, allowed_domains=()))
    return _with_default_domains(new)


def _override(doc: Doc, key: str, value: Any, top: dict[str, Any],
              sections: dict[str, dict[str, Any]]) -> None:
    """Check one dotted override and put its value in `top` or its section's dict."""
    section, _, name = key.partition(".")
    if name and section in _SECTIONS:
        keys = _SECTIONS[section]
        if name not in keys:
            raise unknown_key(doc, (section, name), keys)
        sections.setdefault(section, {})[name] = keys[name](doc, (section, name), value)
    elif not name and key in _TOP_KEYS:
        top[key] = _TOP_KEYS[key](doc, (key,), value)
    else:
        raise unknown_key(doc, tuple(key.split(".")), _TOP_KEYS, name=section)


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
            result[key], doc = read_yaml(raw, OVERRIDE_SOURCE)
            doc.raise_problems()
        except ConfigError as exc:
            raise ConfigError(exc.detail, source=OVERRIDE_SOURCE, key=key) from None
    return result


def _check_top_level(doc: Doc, data: Any) -> None:
    if not isinstance(data, Mapping):
        raise doc.error((), f"expected a mapping of settings (like 'start_urls: [...]') at the "
                            f"top level, got {show(data)}")


def _flatten(doc: Doc, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Expand {"limits": {"max_pages": 5}} into {"limits.max_pages": 5}."""
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if key in _SECTIONS:
            for name, item in mapping(doc, (key,), value).items():
                flat[f"{key}.{name}"] = item
        else:
            flat[str(key)] = value
    return flat


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


# --------------------------------------------------------------------------- reading YAML

_BOOL_TAG = "tag:yaml.org,2002:bool"
_MERGE_TAG = "tag:yaml.org,2002:merge"


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


def read_yaml(text: str, source: str) -> tuple[Any, Doc]:
    """Compose `text` and turn it into plain data, recording the line of every key and value.

    Invalid YAML raises; a duplicate key or an unreadable value is noted in
    the Doc's problems (the value left out), for the caller to raise with the rest.
    """
    doc = Doc(source)
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

    def __init__(self, doc: Doc) -> None:
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
            with self.doc.collecting():
                result[key] = self.value(value_node, (*path, key))
        return result

    def check_keys(self, node: MappingNode, path: KeyPath) -> None:
        """Keys must be plain scalars, each written once; the others are noted and left out."""
        seen: set[str] = set()
        kept = []
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            problem = None
            if key_node.tag == _MERGE_TAG:
                pass
            elif not isinstance(key_node, ScalarNode):
                problem = ConfigError("a key must be a plain string, not a list or mapping",
                                      source=self.doc.source, line=line,
                                      key=dotted(path) or None)
            elif key_node.value in seen:
                problem = ConfigError("duplicate key", source=self.doc.source, line=line,
                                      key=dotted((*path, key_node.value)))
            else:
                seen.add(key_node.value)
            if problem is None:
                kept.append((key_node, value_node))
            else:
                self.doc.problems.append(problem)
        node.value = kept

    def scalar(self, node: Node, path: KeyPath) -> Any:
        if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
            return node.value  # YAML 1.2: yes/no/on/off are strings
        try:
            return self.constructor.construct_object(node)
        except ConstructorError as exc:
            raise self.doc.error(path, f"cannot read value: {exc.problem}") from None


# --------------------------------------------------------------------------- the key tables

# Read off the dataclasses (see checks.key), in declaration order, which is the
# order "valid keys: ..." lists them in.
_TOP_KEYS: dict[str, Validator] = validators(CrawlConfig)
_SECTIONS: dict[str, dict[str, Validator]] = {
    name: validators(declared.section)
    for name, declared in keys_of(CrawlConfig).items() if declared.section is not None}
