"""The in-memory FakeFetcher, Mounts (which routes requests to fetchers by URL pattern), and
which fetchers tell when a request leaves."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from crawler.config import FetchConfig
from crawler.errors import FetchError
from crawler.fetch.base import PAGE, FetchOptions, tell_sent
from crawler.fetch.fake import FakeAnswer, FakeFetcher, redirect
from crawler.fetch.http import HttpFetcher
from crawler.fetch.mounts import Mounts
from crawler.models import Request, Response
from tests.site import Page, SiteServer

A = "http://a.test/"


async def fetch(fake: FakeFetcher, url: str, options: FetchOptions = PAGE) -> Response:
    return await fake.fetch(Request(url), options)


@pytest.fixture
async def fake() -> FakeFetcher:
    """An open FakeFetcher with no answers yet: tests fill `fake.answers`."""
    fetcher = FakeFetcher()
    await fetcher.open()
    return fetcher


# -- the fake: what each kind of answer gives ------------------------------------


async def test_a_str_answer_is_a_200_html_page_encoded_as_utf8(fake: FakeFetcher) -> None:
    fake.answers[A] = "<html>café</html>"
    response = await fetch(fake, A)
    assert (response.status, response.body) == (200, "<html>café</html>".encode())
    assert response.content_type == "text/html"
    assert response.encoding == "utf-8"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.url == A


async def test_a_bytes_answer_is_the_body_as_it_is(fake: FakeFetcher) -> None:
    fake.answers[A] = b"<html>\xe9</html>"
    response = await fetch(fake, A)
    assert (response.status, response.body, response.content_type) == (
        200, b"<html>\xe9</html>", "text/html")


async def test_an_int_answer_is_that_status_with_an_empty_body(fake: FakeFetcher) -> None:
    fake.answers[A] = 503
    response = await fetch(fake, A)
    assert (response.status, response.body, response.too_large) == (503, b"", None)


async def test_a_fake_answer_gives_its_status_headers_type_and_charset(fake: FakeFetcher) -> None:
    fake.answers[A] = FakeAnswer(status=429, body="жир", headers={"Retry-After": "7"},
                                 content_type="Text/Plain", charset="koi8-r")
    response = await fetch(fake, A)
    assert response.status == 429
    assert response.headers["retry-after"] == "7"  # case-insensitive, as over HTTP
    assert response.content_type == "text/plain"
    assert response.body == "жир".encode("koi8-r")  # a str body in the answer's charset
    assert response.text == "жир"
    assert response.headers["Content-Type"] == "text/plain; charset=koi8-r"


async def test_a_charset_written_in_content_type_is_the_charset(fake: FakeFetcher) -> None:
    fake.answers[A] = FakeAnswer(body="жир".encode("koi8-r"),
                                 content_type='text/html; charset="KOI8-R"')
    response = await fetch(fake, A)
    assert response.content_type == "text/html"
    assert response.text == "жир"


async def test_content_type_none_answers_without_a_content_type(fake: FakeFetcher) -> None:
    fake.answers[A] = FakeAnswer(body=b"%PDF", content_type=None)
    response = await fetch(fake, A)
    assert response.content_type is None
    assert "Content-Type" not in response.headers


async def test_a_fetch_error_answer_is_raised_with_its_kind(fake: FakeFetcher) -> None:
    fake.answers[A] = FetchError("timed out after 30.0s", kind="timeout")
    for _ in range(2):  # the same error can be served again
        with pytest.raises(FetchError, match="timed out") as caught:
            await fetch(fake, A)
        assert caught.value.kind == "timeout"
    assert fake.fetched(A) == 2


async def test_a_callable_answer_decides_per_request(fake: FakeFetcher) -> None:
    fake.answers[A] = lambda request: 401 if request.meta.get("anonymous") else "<html>in</html>"
    assert (await fake.fetch(Request(A, meta={"anonymous": True}))).status == 401
    assert (await fake.fetch(Request(A))).body == b"<html>in</html>"


async def test_a_list_answers_one_per_fetch_and_the_last_repeats(fake: FakeFetcher) -> None:
    fake.answers[A] = [503, FetchError("reset"), "<html>ok</html>"]
    assert (await fetch(fake, A)).status == 503
    with pytest.raises(FetchError, match="reset"):
        await fetch(fake, A)
    for _ in range(2):
        assert (await fetch(fake, A)).body == b"<html>ok</html>"
    assert fake.fetched(A) == 4


async def test_an_empty_list_of_answers_is_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        FakeFetcher({A: []})


async def test_an_unknown_url_answers_404(fake: FakeFetcher) -> None:
    fake.answers[A] = "<html></html>"
    response = await fetch(fake, A + "missing")
    assert (response.status, response.body) == (404, b"")


async def test_the_default_answers_the_urls_not_in_the_map() -> None:
    fake = FakeFetcher({A: "<html>a</html>"}, default=FetchError("no route", kind="connection"))
    async with fake:
        assert (await fetch(fake, A)).body == b"<html>a</html>"
        with pytest.raises(FetchError, match="no route"):
            await fetch(fake, A + "b")


async def test_urls_are_compared_as_given(fake: FakeFetcher) -> None:
    fake.answers["http://a.test"] = "<html>no slash</html>"
    assert (await fetch(fake, "http://a.test/")).status == 404


async def test_a_response_has_no_timing_and_the_requests_headers(fake: FakeFetcher) -> None:
    fake.answers[A] = "<html></html>"
    request = Request(A, headers={"If-None-Match": '"v1"'})
    response = await fake.fetch(request)
    assert response.elapsed == 0.0
    assert response.request is request
    assert response.request_headers == {"If-None-Match": '"v1"'}


# -- the fake: the bounds of a fetch ---------------------------------------------


async def test_want_body_sees_status_and_headers_and_no_leaves_the_body(fake: FakeFetcher) -> None:
    fake.answers[A] = FakeAnswer(body=b"%PDF-1.7", content_type="application/pdf")
    seen: list[tuple[int, str | None, bytes]] = []

    def html_only(response: Response) -> bool:
        seen.append((response.status, response.content_type, response.body))
        return response.content_type == "text/html"

    response = await fetch(fake, A, FetchOptions(want_body=html_only))
    assert seen == [(200, "application/pdf", b"")]  # decided before any body
    assert (response.status, response.body, response.too_large) == (200, b"", None)
    wanted = await fetch(fake, A, FetchOptions(want_body=lambda response: True))
    assert wanted.body == b"%PDF-1.7"


async def test_a_body_over_the_cap_comes_back_empty_with_too_large(fake: FakeFetcher) -> None:
    fake.answers[A] = FakeAnswer(status=200, body=b"x" * 101, headers={"ETag": '"e"'})
    response = await fetch(fake, A, FetchOptions(max_body_size=100))
    assert response.body == b""
    assert response.too_large == "body exceeds max_body_size (100 bytes)"
    assert (response.status, response.headers["ETag"]) == (200, '"e"')  # what did arrive
    exact = await fetch(fake, A, FetchOptions(max_body_size=101))
    assert (exact.body, exact.too_large) == (b"x" * 101, None)


async def test_the_fakes_own_cap_applies_when_the_options_set_none() -> None:
    fake = FakeFetcher({A: b"x" * 11}, max_body_size=10)
    async with fake:
        response = await fetch(fake, A)
    assert (response.body, response.too_large) == (b"", "body exceeds max_body_size (10 bytes)")


async def test_the_default_cap_is_ten_mebibytes(fake: FakeFetcher) -> None:
    fake.answers[A] = b"x" * (10 * 1024 * 1024 + 1)
    assert (await fetch(fake, A)).too_large == "body exceeds max_body_size (10485760 bytes)"


async def test_truncate_cuts_the_body_at_the_cap(fake: FakeFetcher) -> None:
    fake.answers[A] = "User-agent: *\nDisallow: /private\n"
    response = await fetch(fake, A, FetchOptions(max_body_size=13, truncate=True))
    assert (response.body, response.too_large) == (b"User-agent: *", None)


# -- the fake: redirects ---------------------------------------------------------


async def test_a_redirect_comes_back_as_it_is_by_default(fake: FakeFetcher) -> None:
    fake.answers[A] = redirect(A + "b", status=302)
    fake.answers[A + "b"] = "<html>b</html>"
    response = await fetch(fake, A)
    assert (response.status, response.headers["Location"], response.url) == (302, A + "b", A)
    assert fake.fetched(A + "b") == 0


async def test_redirects_are_followed_up_to_max_redirects(fake: FakeFetcher) -> None:
    fake.answers.update({A: redirect(A + "1"), A + "1": redirect(A + "2", status=307),
                         A + "2": "<html>there</html>"})
    request = Request(A)
    response = await fake.fetch(request, FetchOptions(max_redirects=2))
    assert (response.status, response.body) == (200, b"<html>there</html>")
    assert response.url == A + "2"  # the URL that answered
    assert response.request is request
    assert [fake.fetched(url) for url in (A, A + "1", A + "2")] == [1, 1, 1]
    assert fake.requests == [request]  # hops are not requests of the caller's


async def test_more_redirects_than_max_redirects_raise_a_redirect_error(fake: FakeFetcher
                                                                        ) -> None:
    fake.answers.update({A: redirect(A + "1"), A + "1": redirect(A + "2"),
                         A + "2": redirect(A + "3"), A + "3": "<html></html>"})
    with pytest.raises(FetchError, match="too many redirects") as caught:
        await fetch(fake, A, FetchOptions(max_redirects=2))
    assert caught.value.kind == "redirect"
    assert fake.fetched(A + "3") == 0  # the third hop is not taken


async def test_a_redirect_loop_raises_rather_than_spinning(fake: FakeFetcher) -> None:
    fake.answers[A] = redirect(A)
    with pytest.raises(FetchError) as caught:
        await fetch(fake, A, FetchOptions(max_redirects=5))
    assert (caught.value.kind, fake.fetched(A)) == ("redirect", 6)


async def test_a_relative_location_is_resolved_against_the_url_that_answered(
        fake: FakeFetcher) -> None:
    fake.answers.update({A + "dir/old": redirect("new"), A + "dir/new": redirect("/top"),
                         A + "top": "<html>top</html>"})
    response = await fetch(fake, A + "dir/old", FetchOptions(max_redirects=5))
    assert (response.url, response.body) == (A + "top", b"<html>top</html>")


async def test_a_redirect_without_location_is_returned_even_when_following(
        fake: FakeFetcher) -> None:
    fake.answers[A] = 301
    response = await fetch(fake, A, FetchOptions(max_redirects=5))
    assert response.status == 301


async def test_a_callable_answering_a_hop_sees_the_hops_url(fake: FakeFetcher) -> None:
    fake.answers[A] = redirect("/b")
    fake.answers[A + "b"] = lambda request: f"<html>{request.url} {request.meta['n']}</html>"
    response = await fake.fetch(Request(A, meta={"n": 1}), FetchOptions(max_redirects=1))
    assert response.body == f"<html>{A}b 1</html>".encode()


# -- the fake: streams, the request log, the lifecycle ---------------------------


async def test_stream_chunks_reassemble_the_body_after_redirects(fake: FakeFetcher) -> None:
    body = bytes(range(256)) * 1000
    fake.answers.update({A + "sitemap": redirect("/sitemap.xml"),
                         A + "sitemap.xml": FakeAnswer(body=body, content_type="Application/XML")})
    async with fake.stream(Request(A + "sitemap")) as stream:
        assert (stream.status, stream.url, stream.content_type) == (
            200, A + "sitemap.xml", "application/xml")
        chunks = []
        while chunk := await stream.read(10_000):
            chunks.append(chunk)
    assert len(chunks) == 26
    assert b"".join(chunks) == body
    assert stream.received == len(body)


async def test_stream_is_cut_at_the_fakes_own_cap() -> None:
    fake = FakeFetcher({A: b"x" * 50}, max_body_size=20)
    async with fake, fake.stream(Request(A)) as stream:
        assert await stream.read() == b"x" * 20
        assert await stream.read() == b""


async def test_stream_raises_the_answers_fetch_error(fake: FakeFetcher) -> None:
    fake.answers[A] = FetchError("refused", kind="connection")
    with pytest.raises(FetchError, match="refused"):
        async with fake.stream(Request(A)):
            pass


async def test_requests_logs_every_fetch_and_stream_in_order(fake: FakeFetcher) -> None:
    fake.answers[A] = "<html></html>"
    first, second, third = Request(A), Request(A + "x"), Request(A)
    await fake.fetch(first)
    async with fake.stream(second):
        pass
    await fake.fetch(third)
    assert fake.requests == [first, second, third]
    assert (fake.fetched(A), fake.fetched(A + "x"), fake.fetched(A + "y")) == (2, 1, 0)


async def test_fetching_before_open_raises() -> None:
    fake = FakeFetcher({A: "<html></html>"})
    with pytest.raises(RuntimeError, match="not open"):
        await fetch(fake, A)
    with pytest.raises(RuntimeError, match="not open"):
        async with fake.stream(Request(A)):
            pass
    assert fake.requests == []


async def test_fetching_after_close_raises() -> None:
    fake = FakeFetcher({A: "<html></html>"})
    async with fake:
        await fetch(fake, A)
    assert (fake.opened, fake.closed) == (1, 1)
    with pytest.raises(RuntimeError, match="closed"):
        await fetch(fake, A)
    assert fake.fetched(A) == 1


# -- Mounts ----------------------------------------------------------------------


class Recording(FakeFetcher):
    """A FakeFetcher that writes its opens and closes into a shared log, and can fail to."""

    def __init__(self, name: str, log: list[str], *, fail: str | None = None) -> None:
        super().__init__()
        self.name, self.log, self.fail = name, log, fail

    async def open(self) -> None:
        self.log.append(f"open {self.name}")
        if self.fail == "open":
            raise OSError(f"{self.name} cannot open")
        await super().open()

    async def close(self) -> None:
        self.log.append(f"close {self.name}")
        await super().close()
        if self.fail == "close":
            raise OSError(f"{self.name} cannot close")


def answering(name: str) -> FakeFetcher:
    """A fake that answers every URL with its own name, so a response tells who fetched it."""
    return FakeFetcher(default=name)


async def routed(mounts: Mounts, request: Request | str) -> str:
    """The name of the fetcher that answered."""
    request = Request(request) if isinstance(request, str) else request
    return (await mounts.fetch(request)).text


async def test_mounts_first_matching_pattern_wins() -> None:
    first, second, default = answering("first"), answering("second"), answering("default")
    async with Mounts(default, [(r"/app/", first), (r"a\.test", second)]) as mounts:
        assert await routed(mounts, A + "app/x") == "first"
        assert await routed(mounts, A + "other") == "second"
        assert await routed(mounts, "http://b.test/") == "default"


async def test_mounts_a_regex_is_searched_anywhere_in_the_url_str_or_compiled() -> None:
    png, api, default = answering("png"), answering("api"), answering("default")
    mounts = Mounts(default, [(re.compile(r"\.PNG$", re.IGNORECASE), png),
                              (r"^https://api\.", api)])
    async with mounts:
        assert await routed(mounts, A + "logo.png") == "png"
        assert await routed(mounts, "https://api.a.test/v1") == "api"
        assert await routed(mounts, "https://a.test/api.") == "default"  # ^ anchors


async def test_mounts_a_predicate_chooses_by_the_request() -> None:
    browser, http_ = answering("browser"), answering("http")
    async with Mounts(http_, [(lambda r: r.meta.get("render"), browser)]) as mounts:
        assert await routed(mounts, Request(A, meta={"render": True})) == "browser"
        assert await routed(mounts, Request(A)) == "http"
    assert mounts.fetcher_for(Request(A, meta={"render": 1})) is browser
    assert mounts.fetcher_for(Request(A)) is http_


async def test_mounts_without_patterns_sends_everything_to_the_default() -> None:
    default = FakeFetcher({A: "<html></html>"})
    async with Mounts(default) as mounts:
        await mounts.fetch(Request(A))
    assert default.fetched(A) == 1


async def test_mounts_pass_the_options_through() -> None:
    fake = FakeFetcher({A: redirect("/b"), A + "b": b"x" * 10})
    async with Mounts(answering("default"), [("a.test", fake)]) as mounts:
        response = await mounts.fetch(Request(A), FetchOptions(max_redirects=1, max_body_size=4,
                                                              truncate=True))
    assert (response.url, response.body) == (A + "b", b"xxxx")


async def test_mounts_route_streams_too() -> None:
    sitemaps = FakeFetcher({A + "sitemap.xml": redirect("/s.xml"), A + "s.xml": b"<urlset/>"})
    async with Mounts(answering("default"), [(r"sitemap", sitemaps)]) as mounts:
        async with mounts.stream(Request(A + "sitemap.xml"), max_redirects=1) as stream:
            assert (stream.url, await stream.read()) == (A + "s.xml", b"<urlset/>")
        async with mounts.stream(Request(A + "page")) as stream:
            assert await stream.read() == b"default"
    assert len(sitemaps.requests) == 1


async def test_mounts_open_and_close_each_distinct_fetcher_once() -> None:
    log: list[str] = []
    browser, http_ = Recording("browser", log), Recording("http", log)
    mounts = Mounts(http_, [(r"/app/", browser), (lambda r: r.meta.get("render"), browser),
                            (r"/api/", http_)])
    await mounts.open()
    assert log == ["open browser", "open http"]
    await mounts.close()
    await mounts.close()  # a second close closes nothing twice
    assert log == ["open browser", "open http", "close http", "close browser"]
    assert [(f.opened, f.closed) for f in (browser, http_)] == [(1, 1), (1, 1)]


async def test_mounts_close_goes_on_past_a_failing_fetcher_and_raises_the_first() -> None:
    log: list[str] = []
    a = Recording("a", log)
    b, c = Recording("b", log, fail="close"), Recording("c", log, fail="close")
    mounts = Mounts(a, [(r"b", b), (r"c", c)])
    await mounts.open()
    with pytest.raises(OSError, match="c cannot close"):  # closed first, failed first
        await mounts.close()
    assert log[3:] == ["close a", "close c", "close b"]
    assert a.closed == b.closed == c.closed == 1


async def test_mounts_open_failing_closes_those_already_opened() -> None:
    log: list[str] = []
    a, b, c = Recording("a", log), Recording("b", log), Recording("c", log, fail="open")
    with pytest.raises(OSError, match="c cannot open"):
        await Mounts(c, [(r"a", a), (r"b", b)]).open()
    assert log == ["open a", "open b", "open c", "close b", "close a"]


def test_mounts_a_pattern_neither_regex_nor_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="regex or a callable"):
        Mounts(FakeFetcher(), [(42, FakeFetcher())])  # type: ignore[list-item]


# -- Mounts with the HTTP fetcher, against a loopback server ---------------------


async def test_mounts_a_fake_for_one_pattern_and_http_for_the_rest(
        site_server: Callable[..., SiteServer]) -> None:
    server = site_server({"/": "<html>from the server</html>"})
    fake = FakeFetcher({server.url("/app/"): "<html>from the fake</html>"})
    async with Mounts(HttpFetcher(FetchConfig()), [(r"/app/", fake)]) as mounts:
        mounted = await mounts.fetch(Request(server.url("/app/")))
        served = await mounts.fetch(Request(server.url("/")))
    assert mounted.body == b"<html>from the fake</html>"
    assert served.body == b"<html>from the server</html>"
    assert server.paths == ["/"]
    assert fake.requests == [mounted.request]


# -- telling when a request leaves -----------------------------------------------


class Departures:
    """Records what a fetcher tells: (request, url, when) for each request sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[Request, str, float]] = []

    def __call__(self, request: Request, url: str, at: float) -> None:
        self.sent.append((request, url, at))


async def test_http_tells_when_each_request_and_each_hop_it_follows_leaves(
        site_server: Callable[..., SiteServer]) -> None:
    server = site_server({"/": "<html>home</html>",
                          "/old": Page(status=301, headers={"Location": "/new"}),
                          "/new": "<html>new</html>",
                          "/sitemap.xml": Page("<urlset/>", content_type="application/xml")})
    departures = Departures()
    http = HttpFetcher(FetchConfig())
    assert tell_sent(http, departures)
    async with http:
        page = Request(server.url("/"))
        await http.fetch(page)
        followed = Request(server.url("/old"))
        await http.fetch(followed, FetchOptions(max_redirects=5))
        streamed = Request(server.url("/sitemap.xml"))
        async with http.stream(streamed) as body:
            while await body.read():
                pass

    assert [(request, url) for request, url, _ in departures.sent] == [
        (page, server.url("/")), (followed, server.url("/old")), (followed, server.url("/new")),
        (streamed, server.url("/sitemap.xml"))]
    # each told before the server saw it (the same clock: the server runs in this process)
    told = [at for _, _, at in departures.sent]
    assert all(at <= r.arrived for at, r in zip(told, server.requests, strict=True))
    assert told == sorted(told)


async def test_http_asked_once_open_cannot_tell_and_a_fake_never_can() -> None:
    departures = Departures()
    async with HttpFetcher(FetchConfig()) as http:
        assert not tell_sent(http, departures)  # its session was made without the trace
    assert not tell_sent(FakeFetcher(), departures)


async def test_mounts_tell_only_if_every_fetcher_can_and_those_that_can_still_do(
        site_server: Callable[..., SiteServer]) -> None:
    server = site_server({"/": "<html>from the server</html>"})
    departures = Departures()
    both_http = Mounts(HttpFetcher(FetchConfig()), [(r"/app/", HttpFetcher(FetchConfig()))])
    assert tell_sent(both_http, departures)
    mixed = Mounts(HttpFetcher(FetchConfig()), [(r"/app/", FakeFetcher(default="fake"))])
    assert not tell_sent(mixed, departures)
    async with mixed:
        await mixed.fetch(Request(server.url("/app/")))
        served = await mixed.fetch(Request(server.url("/")))

    assert [(request, url) for request, url, _ in departures.sent] == [
        (served.request, server.url("/"))]
