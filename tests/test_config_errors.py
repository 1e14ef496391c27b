"""Config mistakes all at once: each as `file:line: key: what is wrong`, in file order."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

from crawler.config import apply_overrides, config_from_dict, load_config
from crawler.errors import ConfigError, ConfigErrors
from tests.conftest import cli_command, cli_env

SEVERAL = """
name: books
start_urls: ["https://books.toscrape.com/", "ftp://x/"]
fetch:
  concurency: 4
  timeout: soon
  headers:
    X-Count: 3
politeness:
  robots_txt: maybe
  hosts:
    "*.example.com": {dealy: 1}
name: again
extract:
  - fields: {title: "h1::txt", price: "p[::text"}
    tpye: book
limits: {max_pages: 0}
"""

EXPECTED = [
    "2: start_urls[1]: invalid URL 'ftp://x/': expected an absolute http:// or https:// URL "
    "with a host, like 'https://example.com/'",
    "4: fetch.concurency: unknown key (did you mean 'concurrency'?)",
    "5: fetch.timeout: invalid duration 'soon': expected a number of seconds or a duration "
    "like '30s', '30m', '2h', '1h30m', '500ms' (units ms, s, m, h, d)",
    "7: fetch.headers.X-Count: expected a one-line string, got 3 (put it in quotes)",
    "9: politeness.robots_txt: expected one of obey, ignore; got 'maybe'",
    "11: politeness.hosts['*.example.com'].dealy: unknown key (did you mean 'delay'?)",
    "12: name: duplicate key",
    "14: extract[0].fields.title: unknown suffix '::txt' in 'h1::txt'; valid suffixes are "
    "::text, ::attr(name), ::html",
    "14: extract[0].fields.price: invalid CSS selector 'p[': Can't parse CSS selector.",
    "15: extract[0].tpye: unknown key (did you mean 'type'?)",
    "16: limits.max_pages: must be at least 1, got 0",
]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "several.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def test_every_mistake_in_a_file_is_reported_in_one_reading_in_file_order(
        tmp_path: Path) -> None:
    path = write(tmp_path, SEVERAL)
    with pytest.raises(ConfigErrors) as caught:
        load_config(path)
    assert str(caught.value).splitlines() == [f"{path}:{line}" for line in EXPECTED]
    assert [e.line for e in caught.value.errors] == [int(x.split(":")[0]) for x in EXPECTED]
    # Code that looks at one error sees the first.
    assert (caught.value.line, caught.value.key) == (2, "start_urls[1]")


def test_one_mistake_is_a_plain_config_error_with_its_message_unchanged(tmp_path: Path) -> None:
    path = write(tmp_path, "fetch:\n  concurency: 4\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert type(caught.value) is ConfigError
    assert str(caught.value) == f"{path}:2: fetch.concurency: unknown key (did you mean " \
                                "'concurrency'?)"


def test_mistakes_in_the_file_come_before_the_overrides_are_read(tmp_path: Path) -> None:
    path = write(tmp_path, "fetch: {concurency: 4}\nscope: {max_depht: 2}\n")
    with pytest.raises(ConfigErrors) as caught:
        load_config(path, ["fetch.timeout=soon"])
    assert [e.key for e in caught.value.errors] == ["fetch.concurency", "scope.max_depht"]


def test_every_bad_override_is_reported_together() -> None:
    config = config_from_dict({"start_urls": ["http://127.0.0.1/"]})
    with pytest.raises(ConfigErrors) as caught:
        apply_overrides(config, {"fetch.concurency": 2, "limits.max_pages": -1,
                                 "scope.max_depth": "deep"}, source="command line (-s)")
    assert str(caught.value).splitlines() == [
        "command line (-s): fetch.concurency: unknown key (did you mean 'concurrency'?)",
        "command line (-s): limits.max_pages: must be at least 1, got -1",
        "command line (-s): scope.max_depth: expected an integer, got 'deep'",
    ]


def test_a_dict_config_reports_every_mistake() -> None:
    with pytest.raises(ConfigErrors) as caught:
        config_from_dict({"start_urls": ["nope", "http://127.0.0.1/", "also nope"],
                          "store": {"body": "yes", "txt": True}})
    assert [e.key for e in caught.value.errors] == [
        "start_urls[0]", "start_urls[2]", "store.body", "store.txt"]


def test_crawler_run_prints_each_mistake_on_its_own_line_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, SEVERAL)
    done = subprocess.run(cli_command("run", str(path), "-o", str(tmp_path / "x.db")),
                          capture_output=True, text=True, env=cli_env(), timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"crawler: error: {path}:{line}" for line in EXPECTED]
    assert not (tmp_path / "x.db").exists()  # nothing was started
