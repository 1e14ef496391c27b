"""`crawler.run()` where an event loop is already running (a Jupyter notebook cell)."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings

import pytest

import crawler
from crawler import ConfigError, Spider
from tests.conftest import FAST_SETTINGS, scalar
from tests.site import tree_site

pytestmark = pytest.mark.timeout(60)


def spider_for(start: str) -> type[Spider]:
    class Tree(Spider):
        name = "tree"
        start_urls = [start]
        custom_settings = FAST_SETTINGS
        threads: set[str] = set()

        def parse(self, response):
            Tree.threads.add(threading.current_thread().name)
            yield from super().parse(response)
    return Tree


async def test_run_inside_a_running_loop_crawls_to_the_end_on_its_own_thread(
        site_server, out_db) -> None:
    server = site_server(tree_site(9))
    tree = spider_for(server.url("/"))
    asyncio.get_running_loop()  # a loop is running here, as in a notebook cell
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stats = crawler.run(tree, output=out_db)
        gc.collect()
    assert stats.status == "finished"
    assert stats.pages == 9 == scalar(out_db, "SELECT count(*) FROM pages")
    assert tree.threads and threading.current_thread().name not in tree.threads
    assert not [w for w in caught if "never awaited" in str(w.message)]


async def test_run_inside_a_loop_raises_a_config_error_without_leaving_a_coroutine(
        tmp_path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ConfigError, match=r"fetch\.concurency: unknown key"):
            crawler.run(spider_for("http://127.0.0.1:9/"), output=tmp_path / "x.db",
                        settings={"fetch.concurency": 2})
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_run_outside_a_loop_runs_in_this_thread(site_server, out_db) -> None:
    server = site_server(tree_site(4))
    tree = spider_for(server.url("/"))
    stats = crawler.run(tree, output=out_db)
    assert stats.pages == 4
    assert tree.threads == {threading.current_thread().name}
