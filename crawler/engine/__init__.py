"""The crawl itself: the Crawler, its scheduler and workers, the page pipeline."""
