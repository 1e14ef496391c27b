"""A Python spider for https://books.toscrape.com/: one item per book, following pagination.

    crawler run configs/books_spider.py -o books.db
    crawler query books.db "SELECT data ->> 'title', data ->> 'price' FROM items"
"""

from __future__ import annotations

import crawler


class BookSpider(crawler.Spider):
    name = "book"  # also the type of the items it yields
    start_urls = ["https://books.toscrape.com/"]
    custom_settings = {"limits.max_pages": 100, "politeness.per_host_delay": 0.5}

    def parse(self, response: crawler.Response):
        """A listing page: follow each book and the next page."""
        for link in response.css("article.product_pod h3 a"):
            yield response.follow(link.attributes["href"], callback=self.parse_book)
        next_page = response.css_first("li.next a")
        if next_page is not None:
            yield response.follow(next_page.attributes["href"])

    async def parse_book(self, response: crawler.Response):
        """A book page: one item. Callbacks may be sync or async generators."""
        rating = response.css_first("p.star-rating")
        yield {
            "title": response.css_first("h1").text(strip=True),
            "price": response.css_first("p.price_color").text(strip=True),
            "rating": (rating.attributes.get("class") or "").replace("star-rating", "").strip(),
            "url": response.url,
        }
