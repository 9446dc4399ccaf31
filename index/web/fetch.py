"""Fetching a page or a feed over HTTP(S), safely, with httpx.

- Server-side request forgery: the host of the URL, and of every redirect hop, is resolved here
  and every address it resolves to is checked. Cloud-metadata, link-local, multicast,
  unspecified and reserved addresses are always refused; loopback, private-network and other
  non-public addresses are refused unless ``allow_private`` (tests, intranet sources). The
  request then connects to the checked address itself (the URL's host is kept in the Host
  header and for TLS: SNI and the certificate check), so a DNS answer that changes between the
  check and the connection (rebinding) cannot send it elsewhere. Proxies from the environment
  are ignored: a proxy would connect on our behalf, past the check.
- Redirects are followed here, one checked hop at a time, at most ``max_redirects``; a hop back
  to a URL already visited is reported as a loop.
- One time limit for the whole fetch, redirects and body included, so a server trickling bytes
  cannot hold it longer than ``timeout_s``.
- Only the expected content is read (HTML for pages; RSS, Atom or XML for feeds), streamed, and
  reading stops as soon as it passes ``max_bytes`` (counted after decompression).
- One request at a time per host, with a User-Agent that says who is asking.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin

import httpx

from index.web.config import FetchConfig
from index.web.errors import FetchError

MAX_URL_CHARS = 2048
Kind = Literal["page", "feed"]
ACCEPTED_TYPES: dict[Kind, frozenset[str]] = {
    "page": frozenset({"text/html", "application/xhtml+xml"}),
    "feed": frozenset(
        {
            "application/rss+xml",
            "application/atom+xml",
            "application/rdf+xml",
            "application/x-rss+xml",
            "application/xml",
            "text/xml",
        }
    ),
}
ACCEPT_HEADER: dict[Kind, str] = {
    "page": "text/html,application/xhtml+xml;q=0.9",
    "feed": "application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.8",
}
NOUN: dict[Kind, str] = {"page": "an HTML page", "feed": "an RSS or Atom feed"}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Cloud instance-metadata endpoints (AWS, GCP, Azure, ECS, Alibaba): refused even when private
# addresses are allowed. Most are link-local, refused anyway; these name the ones that are not.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
PRIVATE_HINT = " (set FETCH_ALLOW_PRIVATE=1 to allow private addresses)"

Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class Fetched:
    url: str  # the URL that finally answered, after redirects
    status: int  # 2xx, or 304 for a conditional request with nothing new
    content_type: str
    charset: str | None  # declared in Content-Type, if any
    body: bytes
    redirects: tuple[str, ...] = ()  # the URLs that redirected, in order
    etag: str | None = None
    last_modified: str | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    def content(self) -> str | bytes:
        """The body decoded with its declared charset; the bytes when none is declared (the
        parsers then read the document's own declaration)."""
        if self.charset:
            try:
                return self.body.decode(self.charset, errors="replace")
            except LookupError:  # an unknown charset name
                pass
        return self.body


def address_problem(address: str, allow_private: bool = False) -> str | None:
    """Why no request may go to ``address`` (an IP address as text), or None if one may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone ("%eth0") is not part of it
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:127.0.0.1 is 127.0.0.1
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_loopback:  # before is_reserved: ::1 lies in a reserved IPv6 block
        return None if allow_private else "a loopback address"
    if ip.is_reserved:
        return "a reserved address"
    if allow_private:
        return None
    if ip.is_private:
        return "a private-network address"
    if not ip.is_global:
        return "not a public address"
    return None


def checked_url(url: str) -> httpx.URL:
    """``url`` parsed, if it is one we may fetch: http(s), a host, no credentials."""
    if not isinstance(url, str) or not url.strip():
        raise FetchError("no URL given")
    if len(url) > MAX_URL_CHARS:
        raise FetchError(f"the URL is too long ({len(url):,} characters; the limit is {MAX_URL_CHARS:,})")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError(f"not a valid URL ({exc})") from None
    if parsed.scheme not in ("http", "https"):
        scheme = f"{parsed.scheme}:" if parsed.scheme else "no scheme"
        raise FetchError(f"only http:// and https:// URLs can be fetched (got {scheme})")
    if not parsed.host:
        raise FetchError("the URL has no host name")
    if parsed.userinfo:
        raise FetchError("URLs with a user name or password are not fetched")
    return parsed.copy_with(fragment=None)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class Fetcher:
    """One HTTP client for many fetches; use ``async with`` (or ``aclose()``) to release it."""

    def __init__(
        self,
        config: FetchConfig = FetchConfig(),
        *,
        resolver: Resolver | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.config = config
        self.resolver = resolver or system_resolver
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeout_s),
            follow_redirects=False,  # followed in _follow, each hop checked
            trust_env=False,  # no proxy from the environment: it would connect past the address check
            headers={"User-Agent": config.user_agent, "Accept-Encoding": "gzip, deflate"},
            limits=httpx.Limits(max_connections=8, max_keepalive_connections=4),
            transport=transport,
        )
        self._host_locks: dict[str, asyncio.Lock] = {}

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, kind: Kind = "page", *, headers: dict[str, str] | None = None) -> Fetched:
        """GET ``url`` and return its body; raises FetchError saying why it cannot.

        ``headers`` may add conditional-request headers (If-None-Match, If-Modified-Since); a
        304 answer then comes back as ``Fetched.not_modified`` with no body."""
        try:
            async with asyncio.timeout(self.config.timeout_s):
                return await self._follow(url, kind, headers or {})
        except TimeoutError:
            raise FetchError(self._timed_out()) from None

    def _timed_out(self) -> str:
        return f"timed out: no complete answer within {self.config.timeout_s:g} s"

    async def _follow(self, url: str, kind: Kind, headers: dict[str, str]) -> Fetched:
        visited: list[str] = []
        target = checked_url(url)
        while True:
            address = await self._checked_address(target, redirected=bool(visited))
            host = target.raw_host.decode("ascii")
            lock = self._host_locks.setdefault(host, asyncio.Lock())
            async with lock:
                response = await self._send(target, address, kind, headers)
                try:
                    if response.status_code not in REDIRECT_STATUSES:
                        return await self._read(response, target, kind, headers, tuple(visited))
                    location = response.headers.get("location", "").strip()
                finally:
                    await response.aclose()
            if not location:
                raise FetchError(f"HTTP {response.status_code} redirect without a Location to follow")
            visited.append(str(target))
            try:
                target = checked_url(urljoin(str(target), location))
            except FetchError as exc:
                raise FetchError(f"the redirect to {location[:200]} was refused: {exc}") from None
            if str(target) in visited:
                raise FetchError(f"redirect loop: the redirects lead back to {target}")
            if len(visited) > self.config.max_redirects:
                raise FetchError(f"too many redirects (more than {self.config.max_redirects})")

    async def _checked_address(self, url: httpx.URL, redirected: bool) -> str:
        """An address of the URL's host that may be connected to; every one it resolves to must
        be allowed (a host answering with one public and one private address is refused)."""
        host = url.raw_host.decode("ascii")
        where = f"the redirect to {url}" if redirected else host
        try:
            addresses = [str(ipaddress.ip_address(host))]
        except ValueError:
            try:
                addresses = await self.resolver(host, url.port or (443 if url.scheme == "https" else 80))
            except (OSError, UnicodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
                raise FetchError(f"the host {host} could not be resolved ({reason})") from None
        if not addresses:
            raise FetchError(f"the host {host} has no address")
        for address in addresses:
            problem = address_problem(address, self.config.allow_private)
            if problem is not None:
                resolved = f"{address} is" if address == host else f"{host} resolves to {address},"
                hint = PRIVATE_HINT if problem in ("a loopback address", "a private-network address") else ""
                if redirected:
                    raise FetchError(f"refused {where}: {resolved} {problem}{hint}")
                raise FetchError(f"refused: {resolved} {problem}{hint}")
        return addresses[0]

    async def _send(
        self, target: httpx.URL, address: str, kind: Kind, headers: dict[str, str]
    ) -> httpx.Response:
        # Connect to the checked address; the URL's host stays in Host and for TLS.
        request = self._client.build_request(
            "GET",
            target.copy_with(host=address),
            headers={"Host": target.netloc.decode("ascii"), "Accept": ACCEPT_HEADER[kind]} | headers,
            extensions={"sni_hostname": target.raw_host.decode("ascii")} if target.scheme == "https" else {},
        )
        try:
            return await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise FetchError(self._timed_out()) from None
        except httpx.HTTPError as exc:
            reason = str(exc) or type(exc).__name__
            raise FetchError(f"could not fetch {target} ({reason})") from None

    async def _read(
        self,
        response: httpx.Response,
        target: httpx.URL,
        kind: Kind,
        headers: dict[str, str],
        redirects: tuple[str, ...],
    ) -> Fetched:
        status = response.status_code
        media = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        found = dict(
            url=str(target),
            status=status,
            content_type=media,
            charset=response.charset_encoding,
            redirects=redirects,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
        )
        conditional = any(h.lower() in ("if-none-match", "if-modified-since") for h in headers)
        if status == 304 and conditional:
            return Fetched(body=b"", **found)
        if status >= 400:
            reason = f" {response.reason_phrase}" if response.reason_phrase else ""
            raise FetchError(f"the server answered HTTP {status}{reason}")
        if not 200 <= status < 300:
            raise FetchError(f"unexpected HTTP status {status}")
        if media not in ACCEPTED_TYPES[kind]:
            raise FetchError(f"not {NOUN[kind]} (Content-Type: {media or 'none given'})")
        limit = self.config.max_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise FetchError(f"too big: {int(declared):,} bytes; the limit is {limit:,} (FETCH_MAX_BYTES)")
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise FetchError(f"too big: more than {limit:,} bytes (FETCH_MAX_BYTES); stopped reading")
                chunks.append(chunk)
        except httpx.TimeoutException:
            raise FetchError(self._timed_out()) from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the download of {target} failed ({exc or type(exc).__name__})") from None
        return Fetched(body=b"".join(chunks), **found)
