"""`extract:` rules in a config: exact field values, list fields, and `match` choosing the pages."""

from __future__ import annotations

import pytest

from crawler import crawl
from tests.conftest import items_of, make_config, rows, scalar
from tests.site import catalogue_site, path_of

pytestmark = pytest.mark.timeout(30)

PRODUCT_RULE = {
    "match": "/product/",
    "type": "product",
    "fields": {
        "name": "h1::text",
        "price": "span.price::text",
        "tags": ["li.tag::text"],
        "image": "img::attr(src)",
    },
}


async def test_extract_rule_stores_exact_fields_of_every_product(site_server, out_db) -> None:
    site, products = catalogue_site(6)
    server = site_server(site)

    stats = await crawl(config=make_config([server.url("/")], extract=PRODUCT_RULE),
                        output=out_db)

    items = items_of(out_db, "product")
    assert stats.items == len(items) == 6
    by_path = {path_of(item["url"]): item["data"] for item in items}
    assert by_path == {
        f"/product/{p.n}": {"name": p.name, "price": p.price, "tags": p.tags, "image": p.image}
        for p in products
    }


async def test_list_fields_are_stored_as_json_arrays(site_server, out_db) -> None:
    site, _ = catalogue_site(3)
    server = site_server(site)

    await crawl(config=make_config([server.url("/")], extract=PRODUCT_RULE), output=out_db)

    kinds = rows(out_db, "SELECT json_type(data, '$.tags') AS tags, "
                         "json_type(data, '$.name') AS name FROM items")
    assert kinds == [{"tags": "array", "name": "text"}] * 3
    assert scalar(out_db, "SELECT json_extract(data, '$.tags[1]') FROM items "
                          "WHERE url = ?", server.url("/product/1")) == "tag-1"


async def test_extract_match_restricts_which_pages_yield_items(site_server, out_db) -> None:
    site, products = catalogue_site(4)
    server = site_server(site)

    await crawl(config=make_config([server.url("/")], extract=PRODUCT_RULE), output=out_db)

    # /, /category/all and /about carry an h1, a price and tags too, but do not match
    assert scalar(out_db, "SELECT count(*) FROM pages") == len(site)
    assert sorted(path_of(i["url"]) for i in items_of(out_db)) == sorted(
        f"/product/{p.n}" for p in products)


async def test_extracted_items_reference_their_page(site_server, out_db) -> None:
    site, _ = catalogue_site(4)
    server = site_server(site)

    await crawl(config=make_config([server.url("/")], extract=PRODUCT_RULE), output=out_db)

    joined = rows(out_db, "SELECT items.url AS item_url, pages.url AS page_url, "
                          "items.crawl_id AS item_crawl, pages.crawl_id AS page_crawl "
                          "FROM items JOIN pages ON pages.id = items.page_id")
    assert len(joined) == 4
    assert all(j["item_url"] == j["page_url"] and j["item_crawl"] == j["page_crawl"]
               for j in joined)


async def test_item_type_defaults_to_the_crawl_name(site_server, out_db) -> None:
    site, _ = catalogue_site(2)
    server = site_server(site)
    rule = {key: value for key, value in PRODUCT_RULE.items() if key != "type"}

    await crawl(config=make_config([server.url("/")], name="shop", extract=rule),
                output=out_db)

    assert [i["type"] for i in items_of(out_db)] == ["shop", "shop"]


async def test_several_rules_each_yield_their_own_type(site_server, out_db) -> None:
    site, _ = catalogue_site(2)
    server = site_server(site)
    listing_rule = {"match": "/category/", "type": "listing",
                    "fields": {"title": "h1::text", "products": ["ul.products a::text"]}}

    await crawl(config=make_config([server.url("/")], extract=[PRODUCT_RULE, listing_rule]),
                output=out_db)

    assert len(items_of(out_db, "product")) == 2
    [listing] = items_of(out_db, "listing")
    assert listing["data"] == {"title": "All products", "products": ["Product 1", "Product 2"]}
