"""Sitemaps: find the start hosts' sitemaps, stream and parse them, schedule what they list."""
