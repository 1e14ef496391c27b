"""`crawler shell`: one page in a Python prompt, driven here by piped input."""

from __future__ import annotations

import subprocess
import textwrap

import pytest

from tests.conftest import cli_command, cli_env
from tests.site import Page, html_page

pytestmark = pytest.mark.timeout(60)

NO_ROBOTS = ["-s", "politeness.robots_txt=ignore", "-s", "politeness.per_host_delay=0"]

SHOP = {
    "/": html_page("Shop", links=[("/book/1", "First"), ("/book/2", "Second")],
                   body='<span class="price">£12.50</span>'),
    "/book/1": html_page("Book one"),
}


def shell(*args: str, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command("shell", *args), input=textwrap.dedent(script),
                          capture_output=True, text=True, env=cli_env(), timeout=60)


def test_shell_fetches_the_page_and_binds_response_for_selectors_rules_and_follow(
        site_server) -> None:
    server = site_server(SHOP)
    done = shell(server.url("/"), *NO_ROBOTS, script="""
        print("status", response.status, response.title)
        print("css", [a.text() for a in response.css("li a")])
        print("rule", extract({"price": "span.price::text", "hrefs": ["li a::attr(href)"]}))
        print("follow", response.follow("book/1").url)
        print("links", links())
    """)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "status 200 Shop" in out
    assert "css ['First', 'Second']" in out
    assert "rule {'price': '£12.50', 'hrefs': ['/book/1', '/book/2']}" in out
    assert f"follow {server.url('/book/1')}" in out
    assert f"links ['{server.url('/book/1')}', '{server.url('/book/2')}']" in out
    assert f"crawler shell: 200 {server.url('/')}" in done.stderr  # the banner
    assert server.paths == ["/"]  # one request: nothing followed


def test_fetch_in_the_shell_rebinds_response_relative_to_the_current_page(site_server) -> None:
    server = site_server(SHOP)
    done = shell(server.url("/"), *NO_ROBOTS, script="""
        fetch("/book/1")
        print("now", response.status, response.title, request.url)
    """)
    assert f"now 200 Book one {server.url('/book/1')}" in done.stdout, done.stderr
    assert server.paths == ["/", "/book/1"]


def test_the_shell_reads_a_stored_page_without_a_request(site_server, tmp_path) -> None:
    server = site_server(SHOP)
    db = tmp_path / "shop.db"
    fetched = subprocess.run(cli_command("fetch", server.url("/"), "-o", str(db), "-q",
                                         *NO_ROBOTS), env=cli_env(), timeout=60)
    assert fetched.returncode == 0
    server.reset_log()
    done = shell(server.url("/"), "--db", str(db), script="""
        print("stored", response.status, response.css_first("span.price").text())
    """)
    assert "stored 200 £12.50" in done.stdout, done.stderr
    assert server.paths == []


def test_extract_without_fields_uses_the_config_rules(site_server, tmp_path) -> None:
    server = site_server(SHOP)
    config = tmp_path / "shop.yaml"
    config.write_text(textwrap.dedent(f"""
        start_urls: ["{server.url('/')}"]
        politeness: {{robots_txt: ignore}}
        extract:
          match: '/$'
          fields: {{price: "span.price::text"}}
    """))
    done = shell(server.url("/"), "-c", str(config), script="print('rules', extract())\n")
    assert "rules [{'price': '£12.50'}]" in done.stdout, done.stderr


def test_a_page_that_cannot_be_fetched_is_a_one_line_error(site_server, refused_url) -> None:
    server = site_server({"/gone": Page(status=404)})
    done = shell(refused_url, *NO_ROBOTS, "-s", "fetch.retries=0", script="")
    assert done.returncode == 2
    assert done.stderr.startswith(f"crawler: error: {refused_url}: connection: ")
    assert len(done.stderr.splitlines()) == 1
    gone = shell(server.url("/gone"), *NO_ROBOTS, script="print('got', response.status)\n")
    assert "got 404" in gone.stdout  # an error status is still a page to look at


def test_a_url_missing_from_the_database_says_so(tmp_path, site_server) -> None:
    server = site_server(SHOP)
    db = tmp_path / "shop.db"
    subprocess.run(cli_command("fetch", server.url("/"), "-o", str(db), "-q", *NO_ROBOTS),
                   env=cli_env(), timeout=60, check=True)
    done = shell(server.url("/nope"), "--db", str(db), script="")
    assert done.returncode == 2
    assert f"{server.url('/nope')}: no such page in {db}" in done.stderr
