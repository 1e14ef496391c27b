"""Being a good guest: per-host slots, robots.txt and page directives, retries, throttling."""
