"""`crawler init`: a commented starter config (and spider) that runs as it is."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from crawler.config import load_config
from tests.conftest import cli_command, cli_env, rows, scalar
from tests.site import tree_site

pytestmark = pytest.mark.timeout(90)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=cli_env(),
                          cwd=cwd, timeout=80)


def test_init_writes_a_config_that_crawls_the_given_site_as_it_is(site_server,
                                                                   tmp_path) -> None:
    server = site_server(tree_site(13))  # depths 0-2
    made = cli("init", "shop", server.url("/"), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    text = (tmp_path / "shop.yaml").read_text()
    assert text.count("\n#") >= 5 and "crawler run shop.yaml" in text  # it explains itself
    config = load_config(tmp_path / "shop.yaml")
    assert config.start_urls == (server.url("/"),)
    assert (config.limits.max_pages, config.scope.max_depth) == (100, 3)
    ran = cli("run", "shop.yaml", "-q", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    db = tmp_path / "shop.db"
    assert scalar(db, "SELECT count(*) FROM pages WHERE status = 200") == 13
    assert server.paths[0] == "/robots.txt"  # polite by default
    titles = {r["t"] for r in rows(db, "SELECT data ->> 'title' AS t FROM items")}
    assert titles == {f"Page {i}" for i in range(13)}


def test_init_with_spider_writes_a_spider_that_runs_as_it_is(site_server, tmp_path) -> None:
    server = site_server(tree_site(5))
    made = cli("init", "my-shop", server.url("/"), "--spider", "-d", "proj", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    folder = tmp_path / "proj"
    assert sorted(p.name for p in folder.iterdir()) == ["my-shop.yaml", "my-shop_spider.py"]
    assert "class MyShopSpider(crawler.Spider)" in (folder / "my-shop_spider.py").read_text()
    ran = cli("run", "my-shop_spider.py", "-q", cwd=folder)
    assert ran.returncode == 0, ran.stderr
    db = folder / "my-shop.db"
    assert scalar(db, "SELECT count(*) FROM pages") == 5
    assert scalar(db, "SELECT count(DISTINCT data ->> 'url') FROM items "
                      "WHERE type = 'my-shop'") == 5


def test_init_never_overwrites_without_force(tmp_path) -> None:
    (tmp_path / "shop.yaml").write_text("mine\n")
    refused = cli("init", "shop", "http://127.0.0.1/", cwd=tmp_path)
    assert refused.returncode == 2
    assert "shop.yaml exists; --force to overwrite it" in refused.stderr
    assert (tmp_path / "shop.yaml").read_text() == "mine\n"
    forced = cli("init", "shop", "http://127.0.0.1/", "--force", cwd=tmp_path)
    assert forced.returncode == 0
    assert "start_urls" in (tmp_path / "shop.yaml").read_text()


@pytest.mark.parametrize(("args", "message"), [
    (["bad name", "http://127.0.0.1/"], "invalid name 'bad name'"),
    (["shop", "ftp://127.0.0.1/"], "not an http(s) URL: 'ftp://127.0.0.1/'"),
])
def test_init_refuses_a_bad_name_or_url_in_one_line(tmp_path, args, message) -> None:
    done = cli("init", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("crawler: error: ") and message in done.stderr
    assert list(tmp_path.iterdir()) == []
