"""Fetching safely: the address check (server-side request forgery) for the URL and every
redirect hop, the connection pinned to the checked address, and every bad case of a real local
server refused with a clear message."""

from __future__ import annotations

import asyncio
import re
import socket

import httpx
import pytest

from index.web.config import FetchConfig
from index.web.errors import FetchError
from index.web.fetch import Fetcher, address_problem, checked_url
from tests.helpers.web_fixture import HUGE_BODY_BYTES, RSS, TALKS

PUBLIC_IP = "93.184.216.34"


@pytest.mark.parametrize(
    "address,problem,with_private_allowed",
    [
        ("127.0.0.1", "a loopback address", None),
        ("::1", "a loopback address", None),
        ("::ffff:127.0.0.1", "a loopback address", None),  # IPv4-mapped IPv6
        ("10.1.2.3", "a private-network address", None),
        ("172.16.0.1", "a private-network address", None),
        ("192.168.1.1", "a private-network address", None),
        ("fc00::1", "a private-network address", None),
        ("100.64.0.1", "not a public address", None),  # carrier-grade NAT
        ("169.254.169.254", "a cloud metadata address", "a cloud metadata address"),
        ("::ffff:169.254.169.254", "a cloud metadata address", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address", "a cloud metadata address"),
        ("169.254.10.10", "a link-local address", "a link-local address"),
        ("fe80::1%eth0", "a link-local address", "a link-local address"),
        ("0.0.0.0", "an unspecified address", "an unspecified address"),
        ("::", "an unspecified address", "an unspecified address"),
        ("224.0.0.1", "a multicast address", "a multicast address"),
        ("240.0.0.1", "a reserved address", "a reserved address"),
        (PUBLIC_IP, None, None),
        ("2606:2800:220:1:248:1893:25c8:1946", None, None),
    ],
)
def test_address_check(address, problem, with_private_allowed):
    assert address_problem(address) == problem
    assert address_problem(address, allow_private=True) == with_private_allowed


@pytest.mark.parametrize(
    "url,message",
    [
        ("ftp://example.com/a.txt", "only http:// and https:// URLs can be fetched (got ftp:)"),
        ("file:///etc/passwd", "only http:// and https:// URLs can be fetched (got file:)"),
        ("javascript:alert(1)", "only http:// and https:// URLs can be fetched (got javascript:)"),
        ("example.com/news", "only http:// and https:// URLs can be fetched (got no scheme)"),
        ("http://user:secret@example.com/", "URLs with a user name or password are not fetched"),
        ("http://example.com/" + "a" * 3000, "the URL is too long"),
        ("   ", "no URL given"),
    ],
)
def test_urls_we_never_fetch(url, message):
    with pytest.raises(FetchError, match=re.escape(message)):
        checked_url(url)


# ---------------------------------------------------------------- fake resolver + transport


def fake_resolver(table: dict[str, list[str]]):
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


def fake_web(routes: dict[tuple[str, str], httpx.Response]):
    """A transport answering by (Host header, path), logging what it was asked."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return routes.get((request.headers["host"], request.url.path), httpx.Response(404))

    return httpx.MockTransport(handler), seen


def page(body: str = "<html><body><p>Hello</p></body></html>") -> httpx.Response:
    return httpx.Response(200, headers={"Content-Type": "text/html; charset=utf-8"}, text=body)


async def test_a_redirect_from_a_public_host_to_a_private_address_is_refused():
    transport, seen = fake_web(
        {
            ("news.example", "/story"): httpx.Response(
                302, headers={"Location": "http://intranet.example/admin"}
            )
        }
    )
    resolver = fake_resolver({"news.example": [PUBLIC_IP], "intranet.example": ["10.0.0.5"]})
    async with Fetcher(FetchConfig(), resolver=resolver, transport=transport) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch("http://news.example/story")
    assert str(caught.value) == (
        "refused the redirect to http://intranet.example/admin: intranet.example resolves to 10.0.0.5, "
        "a private-network address (set FETCH_ALLOW_PRIVATE=1 to allow private addresses)"
    )
    assert [r.url.host for r in seen] == [PUBLIC_IP]  # the private address was never contacted


async def test_a_host_with_any_private_address_is_refused_and_a_metadata_hop_even_when_private_is_allowed():
    transport, seen = fake_web(
        {
            ("news.example", "/meta"): httpx.Response(
                301, headers={"Location": "http://169.254.169.254/latest/"}
            )
        }
    )
    resolver = fake_resolver({"mixed.example": [PUBLIC_IP, "127.0.0.1"], "news.example": [PUBLIC_IP]})
    async with Fetcher(FetchConfig(), resolver=resolver, transport=transport) as fetcher:
        with pytest.raises(FetchError, match=r"mixed\.example resolves to 127\.0\.0\.1, a loopback address"):
            await fetcher.fetch("http://mixed.example/")
    async with Fetcher(FetchConfig(allow_private=True), resolver=resolver, transport=transport) as fetcher:
        with pytest.raises(FetchError, match=r"169\.254\.169\.254 is a cloud metadata address"):
            await fetcher.fetch("http://news.example/meta")
    assert [r.url.path for r in seen] == ["/meta"]


async def test_the_connection_goes_to_the_checked_address_with_the_name_in_host_and_sni():
    transport, seen = fake_web({("news.example", "/story"): page()})
    resolver = fake_resolver({"news.example": [PUBLIC_IP]})
    config = FetchConfig(user_agent="test-agent/1.0")
    async with Fetcher(config, resolver=resolver, transport=transport) as fetcher:
        fetched = await fetcher.fetch("https://news.example/story?x=1#part")
    (request,) = seen
    assert request.url.host == PUBLIC_IP and request.url.path == "/story" and request.url.query == b"x=1"
    assert request.headers["host"] == "news.example"
    assert request.extensions["sni_hostname"] == "news.example"  # TLS: SNI and certificate name
    assert request.headers["user-agent"] == "test-agent/1.0"
    assert fetched.url == "https://news.example/story?x=1" and fetched.content() == page().text


async def test_an_unknown_host_is_a_clear_error():
    async with Fetcher(FetchConfig(), resolver=fake_resolver({})) as fetcher:
        with pytest.raises(FetchError, match=r"the host nowhere\.example could not be resolved"):
            await fetcher.fetch("http://nowhere.example/")


# ---------------------------------------------------------------- the local server


def local(**overrides) -> Fetcher:
    return Fetcher(FetchConfig(**({"allow_private": True, "timeout_s": 5.0} | overrides)))


async def test_loopback_is_refused_unless_private_addresses_are_allowed(news_site):
    async with Fetcher(FetchConfig()) as fetcher:
        with pytest.raises(FetchError, match=r"refused: 127\.0\.0\.1 is a loopback address"):
            await fetcher.fetch(news_site.url(TALKS))
        with pytest.raises(FetchError, match=r"refused: localhost resolves to 127\.0\.0\.1"):
            await fetcher.fetch(news_site.url(TALKS).replace("127.0.0.1", "localhost"))
    assert news_site.requests == []  # refused before connecting
    async with local() as fetcher:
        fetched = await fetcher.fetch(news_site.url(TALKS))
    assert fetched.status == 200 and b"sailor exchange" in fetched.body


@pytest.mark.parametrize(
    "path,message",
    [
        ("/status/404", "the server answered HTTP 404 Not Found"),
        ("/status/500", "the server answered HTTP 500 Internal Server Error"),
        ("/redirect/loop-a", "redirect loop: the redirects lead back to http://127.0.0.1:"),
        ("/redirect/chain/10", "too many redirects (more than 5)"),
        ("/redirect/metadata", "refused the redirect to http://169.254.169.254/latest/meta-data/"),
        ("/redirect/no-location", "HTTP 302 redirect without a Location to follow"),
        ("/redirect/ftp", "the redirect to ftp://127.0.0.1/file.txt was refused: only http://"),
        ("/image.png", "not an HTML page (Content-Type: image/png)"),
        ("/no-type", "not an HTML page (Content-Type: none given)"),
        ("/huge-declared", "too big: 50,000,000 bytes; the limit is 1,000,000 (FETCH_MAX_BYTES)"),
    ],
)
async def test_bad_cases_are_refused_with_a_clear_message(news_site, path, message):
    async with local(max_bytes=1_000_000) as fetcher:
        with pytest.raises(FetchError) as caught:
            await fetcher.fetch(news_site.url(path))
    assert message in str(caught.value)


async def test_redirects_are_followed_up_to_the_limit(news_site):
    async with local(max_redirects=3) as fetcher:
        fetched = await fetcher.fetch(news_site.url("/redirect/chain/2"))  # 3 hops: allowed
        with pytest.raises(FetchError, match=r"too many redirects \(more than 3\)"):
            await fetcher.fetch(news_site.url("/redirect/chain/3"))
    assert fetched.url == news_site.url(TALKS)
    assert [u.rsplit("/", 1)[1] for u in fetched.redirects] == ["2", "1", "0"]


async def test_a_huge_body_is_not_read_past_the_limit(news_site):
    async with local(max_bytes=200_000) as fetcher:
        with pytest.raises(
            FetchError, match=r"too big: more than 200,000 bytes \(FETCH_MAX_BYTES\); stopped reading"
        ):
            await fetcher.fetch(news_site.url("/huge"))
    assert news_site.huge_bytes_sent < HUGE_BODY_BYTES  # the server saw the reader hang up


async def test_a_slow_server_times_out(news_site):
    async with local(timeout_s=0.5) as fetcher:
        with pytest.raises(FetchError, match=r"timed out: no complete answer within 0\.5 s"):
            await fetcher.fetch(news_site.url("/slow"))


async def test_one_request_at_a_time_per_host(news_site):
    async with local() as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(news_site.url("/pause")) for _ in range(3)))
    assert all(r.status == 200 for r in results)
    assert news_site.max_in_flight == 1


async def test_feeds_must_be_xml_and_conditional_requests_get_not_modified(news_site):
    async with local() as fetcher:
        with pytest.raises(FetchError, match=r"not an RSS or Atom feed \(Content-Type: text/html\)"):
            await fetcher.fetch(news_site.url("/feeds/html"), "feed")
        first = await fetcher.fetch(news_site.url(RSS), "feed")
        again = await fetcher.fetch(news_site.url(RSS), "feed", headers={"If-None-Match": first.etag})
    assert first.content_type == "application/rss+xml" and first.etag
    assert again.not_modified and again.body == b""
    user_agents = {headers.get("User-Agent") for _, headers in news_site.requests}
    assert user_agents == {FetchConfig().user_agent}
