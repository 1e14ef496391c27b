"""Auth and headers per host (`fetch.hosts`): Basic, bearer and extra headers go to the hosts
their pattern matches and to no other, redirects included; secrets come from the
environment and appear nowhere in the database."""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from crawler import crawl
from tests.conftest import cli_command, cli_env, make_config, rows, scalar
from tests.site import Page, html_page

pytestmark = pytest.mark.timeout(60)

PASSWORD = "b4sic-pw-Qm3"
TOKEN = "b3arer-tok-Jw8"
API_KEY = "ap1-key-Lr5"


class BasicOnly:
    """Pages that answer 401 without the right Basic credentials."""

    def __init__(self, pages: Mapping[str, str | Page]) -> None:
        self.pages = pages
        self.expected = "Basic " + base64.b64encode(f"me:{PASSWORD}".encode()).decode()

    def respond(self, path: str, headers: Mapping[str, str]) -> Page | None:
        if path not in self.pages:
            return None
        if headers.get("Authorization") != self.expected:
            return Page(html_page("Who are you?"), status=401,
                        headers={"WWW-Authenticate": 'Basic realm="tests"'})
        page = self.pages[path]
        return page if isinstance(page, Page) else Page(page)


async def test_credentials_go_to_their_hosts_only_redirects_included(
        site_server, tmp_path, monkeypatch) -> None:
    other = site_server({"/": html_page("Other"), "/landed": html_page("Landed")},
                        host="127.0.0.4")
    api = site_server({"/": html_page("API", links=[other.url("/")])}, host="127.0.0.3")
    private = site_server(host="127.0.0.2")
    private.site = BasicOnly({
        "/": html_page("Private", links=["/a", api.url("/"), "/out"]),
        "/a": html_page("A"),
        "/out": Page("", status=302, headers={"Location": other.url("/landed")}),
    })
    monkeypatch.setenv("PRIVATE_PASSWORD", PASSWORD)
    monkeypatch.setenv("API_TOKEN", TOKEN)
    monkeypatch.setenv("API_KEY", API_KEY)
    db = tmp_path / "x.db"
    config = make_config([private.url("/")], scope={"allowed_domains": [
        "127.0.0.2", "127.0.0.3", "127.0.0.4"]}, fetch={"hosts": {
            "127.0.0.2": {"basic": {"user": "me", "password": "${PRIVATE_PASSWORD}"}},
            "127.0.0.3": {"bearer": "${API_TOKEN}",
                          "headers": {"X-Api-Key": "${API_KEY}", "X-Team": "crawl"}},
        }})

    await crawl(config=config, output=db)

    # The Basic-protected host was crawled fully, and so was the rest.
    assert rows(db, "SELECT status, count(*) AS n FROM pages GROUP BY status") == [
        {"status": 200, "n": 5}, {"status": 302, "n": 1}]
    assert all(r.headers.get("authorization") == private.site.expected
               and "x-api-key" not in r.headers for r in private.requests)
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}"
               and r.headers.get("x-api-key") == API_KEY for r in api.requests)
    assert {r.path for r in other.requests} == {"/", "/landed"}  # linked, and redirected to
    assert not any({"authorization", "x-api-key", "x-team"} & set(r.headers)
                   for r in other.requests)
    # The file says what was sent without the secrets.
    sent = {json.loads(r["request_headers"]).get("authorization") for r in rows(
        db, "SELECT request_headers FROM pages")}
    assert sent == {"Basic ***", "Bearer ***", None}
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("x.db*"))
    for secret in (PASSWORD, TOKEN, API_KEY):
        assert secret.encode() not in raw
    hosts = json.loads(scalar(db, "SELECT config FROM crawls"))["fetch"]["hosts"]
    assert hosts["127.0.0.2"]["basic"] == {"user": "me", "password": "${PRIVATE_PASSWORD}"}
    assert hosts["127.0.0.3"]["headers"] == {"X-Api-Key": "${API_KEY}", "X-Team": "crawl"}


async def test_a_secret_written_in_the_config_is_sent_but_stored_as_stars(site_server,
                                                                          tmp_path) -> None:
    site = site_server({"/": html_page("Home")}, host="127.0.0.2")
    db = tmp_path / "x.db"
    config = make_config([site.url("/")], fetch={
        "headers": {"X-Api-Key": API_KEY, "Accept-Language": "en"},
        "hosts": {"*.0.0.2": {"bearer": TOKEN}}})

    await crawl(config=config, output=db)

    assert site.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert site.requests[0].headers["x-api-key"] == API_KEY
    stored = json.loads(scalar(db, "SELECT config FROM crawls"))["fetch"]
    assert stored["headers"] == {"X-Api-Key": "***", "Accept-Language": "en"}
    assert stored["hosts"] == {"*.0.0.2": {"headers": {}, "bearer": "***"}}
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("x.db*"))
    assert TOKEN.encode() not in raw and API_KEY.encode() not in raw


def test_a_secret_from_an_unset_variable_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text('start_urls: ["http://127.0.0.1:9/"]\n'
                      "fetch:\n"
                      "  hosts:\n"
                      '    "127.0.0.1": {bearer: "${NOT_SET_ANYWHERE_42}"}\n')
    env = cli_env()
    env.pop("NOT_SET_ANYWHERE_42", None)

    done = subprocess.run(cli_command("run", str(config)), env=env, capture_output=True,
                          text=True, timeout=30, check=False)

    assert done.returncode == 2
    assert done.stderr == (f"crawler: error: {config}:4: fetch.hosts['127.0.0.1'].bearer: "
                           "environment variable NOT_SET_ANYWHERE_42 is not set (the value "
                           "names it as ${NOT_SET_ANYWHERE_42})\n")
