"""The `crawler` command, run as `python -m crawler` in a subprocess against loopback sites."""

from __future__ import annotations

import signal
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import cli_command, cli_env, items_of, rows, scalar
from tests.site import catalogue_site, path_of, tree_site

pytestmark = pytest.mark.timeout(90)

FAST = """\
politeness:
  robots_txt: ignore
  per_host_delay: 0
limits:
  max_duration: 60s
"""


def run_cli(*args: str, cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), cwd=cwd, env=cli_env(), capture_output=True,
                          text=True, timeout=timeout, check=False)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_help_exits_zero_and_lists_the_run_command(tmp_path) -> None:
    result = run_cli("--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "run" in result.stdout
    assert "usage" in result.stdout.lower()


def test_run_help_exits_zero_and_explains_its_options(tmp_path) -> None:
    result = run_cli("run", "--help", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    for option in ("--output", "--max-pages", "--concurrency", "-s", "--quiet"):
        assert option in result.stdout
    assert "130" in result.stdout  # the exit status of an interrupted crawl is explained


def test_run_yaml_config_with_extract_produces_items(site_server, tmp_path) -> None:
    site, products = catalogue_site(3)
    server = site_server(site)
    config = write(tmp_path / "shop.yaml", textwrap.dedent(f"""\
        name: shop
        start_urls: ["{server.url("/")}"]
        output: shop.db
        extract:
          match: '/product/'
          type: product
          fields:
            name: "h1::text"
            price: "span.price::text"
            tags: ["li.tag::text"]
            image: "img::attr(src)"
        """) + FAST)

    result = run_cli("run", str(config), "--quiet", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    db = tmp_path / "shop.db"
    assert scalar(db, "SELECT status FROM crawls") == "finished"
    assert scalar(db, "SELECT count(*) FROM pages") == len(site)
    items = {path_of(i["url"]): i["data"] for i in items_of(db, "product")}
    assert items == {f"/product/{p.n}": {"name": p.name, "price": p.price, "tags": p.tags,
                                         "image": p.image} for p in products}


def test_flags_override_the_config_file(site_server, tmp_path) -> None:
    server = site_server(tree_site(30, fanout=10), latency=0.1)
    config = write(tmp_path / "c.yaml", f"""\
        name: c
        start_urls: ["{server.url("/")}"]
        output: from_file.db
        limits:
          max_pages: 100
          max_duration: 60s
        fetch:
          concurrency: 16
        politeness:
          robots_txt: ignore
          per_host_delay: 0
          per_host_concurrency: 8
        """)

    result = run_cli("run", str(config), "-o", "from_flag.db", "--max-pages", "6",
                     "-s", "fetch.concurrency=2", "--quiet", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "from_file.db").exists()
    db = tmp_path / "from_flag.db"
    assert scalar(db, "SELECT count(*) FROM pages") == 6
    assert len(server.requests) <= 6
    assert server.max_concurrency == 2  # -s fetch.concurrency=2 beat the file's 16 (and 8)


def test_concurrency_flag_bounds_requests_in_flight(site_server, tmp_path) -> None:
    server = site_server(tree_site(8, fanout=7), latency=0.05)
    config = write(tmp_path / "c.yaml", f"""\
        name: c
        start_urls: ["{server.url("/")}"]
        politeness:
          robots_txt: ignore
          per_host_delay: 0
          per_host_concurrency: 8
        limits:
          max_duration: 60s
        """)

    result = run_cli("run", str(config), "-o", "out.db", "--concurrency", "1", "--quiet",
                     cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert len(server.requests) == 8
    assert server.max_concurrency == 1


def test_run_spider_file_by_class_name(site_server, tmp_path) -> None:
    server = site_server(tree_site(4))
    spider = write(tmp_path / "myspider.py", f"""\
        from crawler import Spider

        SETTINGS = {{"politeness.per_host_delay": 0, "politeness.robots_txt": "ignore",
                     "limits.max_duration": "60s"}}

        class First(Spider):
            name = "first"
            start_urls = ["{server.url("/")}"]
            custom_settings = SETTINGS

        class Second(First):
            name = "second"

            def parse(self, response):
                yield {{"title": response.title}}
                yield from super().parse(response)
        """)

    result = run_cli("run", f"{spider}:Second", "-o", "out.db", "--quiet", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    items = items_of(tmp_path / "out.db")
    assert {i["type"] for i in items} == {"second"}
    assert sorted(i["data"]["title"] for i in items) == [f"Page {i}" for i in range(4)]


def test_unknown_config_key_exits_2_with_file_line_and_suggestion(tmp_path) -> None:
    config = write(tmp_path / "bad.yaml", """\
        name: bad
        start_urls: ["http://127.0.0.1:9/"]
        fetch:
          timeout: 10
          concurency: 4
        """)

    result = run_cli("run", str(config), "-o", "out.db", cwd=tmp_path)

    assert result.returncode == 2
    assert "bad.yaml:5" in result.stderr
    assert "concurency" in result.stderr
    assert "did you mean" in result.stderr and "'concurrency'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out.db").exists()


def test_bad_setting_flag_exits_2_without_traceback(tmp_path) -> None:
    config = write(tmp_path / "ok.yaml", """\
        name: ok
        start_urls: ["http://127.0.0.1:9/"]
        """)

    result = run_cli("run", str(config), "-s", "fetch.concurency=2", "-o", "out.db",
                     cwd=tmp_path)

    assert result.returncode == 2
    assert "fetch.concurency" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_config_file_exits_2_without_traceback(tmp_path) -> None:
    result = run_cli("run", str(tmp_path / "nope.yaml"), cwd=tmp_path)

    assert result.returncode == 2
    assert "nope.yaml" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_sigint_stops_the_crawl_gracefully_and_keeps_every_answered_page(site_server,
                                                                         tmp_path) -> None:
    site = tree_site(200, fanout=5)
    server = site_server(site, latency=0.05)
    config = write(tmp_path / "big.yaml", f"""\
        name: big
        start_urls: ["{server.url("/")}"]
        politeness:
          robots_txt: ignore
          per_host_delay: 0
          per_host_concurrency: 2
        limits:
          max_duration: 60s
        """)
    db = tmp_path / "big.db"

    proc = subprocess.Popen(cli_command("run", str(config), "-o", str(db)), cwd=tmp_path,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 30
        while len(server.answers) < 15 and time.monotonic() < deadline \
                and proc.poll() is None:
            time.sleep(0.02)
        assert len(server.answers) >= 15, "the crawl never got going"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    output = stdout + stderr
    assert "interrupted" in output and "pages" in output  # the summary
    assert scalar(db, "SELECT status FROM crawls") == "interrupted"
    stored = {path_of(r["url"]) for r in rows(db, "SELECT url FROM pages")}
    assert set(server.paths) <= stored, set(server.paths) - stored
    assert len(stored) < len(site)
    assert server.in_flight == 0
