"""scrapy-redis's side of the cluster benchmark: one of several processes sharing a Redis queue.

Run with the Python of a virtual environment that has Scrapy and scrapy-redis
(the driver, ``cluster.py``, makes a throwaway one), once per process::

    /tmp/crawler-bench-scrapy-redis-venv/bin/python benchmarks/scrapy_redis_spider.py \\
        http://127.0.0.1:8811/index.html redis://127.0.0.1:6390/0 shard-1.db

The spider, its item pipeline and its settings are those of
``scrapy_spider.py`` (64 concurrent requests, no delay, one SQLite file per
process), plus what the scrapy-redis README asks for to share a crawl: its
``Scheduler`` (a priority queue of pickled requests in Redis, one pop per
request) and its ``RFPDupeFilter`` (a Redis SET of request fingerprints).
``SCHEDULER_PERSIST`` is on, or the first process to close would delete the
queue and the seen-set the others still use.

Every process yields the start URL through the shared dupefilter, so only
the first one's is fetched. scrapy-redis spiders never finish by themselves
(an empty queue may refill); ``RedisMixin``'s idle handling closes one once
it has been idle with nothing to read for ``MAX_IDLE_TIME_BEFORE_CLOSE``
seconds (5 here), counted from the process's start, so an idle check at the
end closes it at once while one at start-up does not.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy_redis.spiders import RedisMixin
from scrapy_spider import SETTINGS, BenchSpider, SQLitePipeline

MAX_IDLE = 5


class RedisBenchSpider(RedisMixin, BenchSpider):
    """BenchSpider, closed by scrapy-redis's idle rule instead of Scrapy's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spider_idle_start_time = int(time.time())

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> RedisBenchSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.setup_redis(crawler)
        return spider

    def start_requests(self) -> Any:
        """The start URL through the shared dupefilter (not RedisMixin's start list)."""
        return BenchSpider.start_requests(self)


def main(argv: list[str]) -> int:
    """``START_URL REDIS_URL DB``: crawl and store; exit 0 on success."""
    start_url, redis_url, db = argv
    settings = {**SETTINGS, "ITEM_PIPELINES": {SQLitePipeline: 300}, "BENCH_DB": db,
                "SCHEDULER": "scrapy_redis.scheduler.Scheduler",
                "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
                "SCHEDULER_PERSIST": True, "REDIS_URL": redis_url,
                "MAX_IDLE_TIME_BEFORE_CLOSE": MAX_IDLE}
    process = CrawlerProcess(settings)
    process.crawl(RedisBenchSpider, start_url=start_url)
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
