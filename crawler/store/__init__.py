"""Where a crawl's records go: the SQLite file, and the `Sink` seam beside it."""
