"""Getting responses: the `Fetcher` seam and the fetchers behind it."""
