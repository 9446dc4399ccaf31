"""A local news site for the tests: ``http.server`` on 127.0.0.1 (a free port) in a thread.

It serves the pages and feeds of tests/data/web/ (``{{BASE}}`` in them becomes the site's own
``http://127.0.0.1:PORT``) and a route for every bad case: HTTP errors, a redirect loop, a long
redirect chain, a redirect to the cloud-metadata address, an answer too slow to wait for, a huge
body (with and without Content-Length), an image, a page with no article, something that is not a
feed. Feeds answer conditional requests (ETag → 304). Every request is logged in ``requests``;
``/pause`` counts how many requests overlap (``max_in_flight``).

Use it as a context manager (the ``news_site`` fixture does): leaving it stops the server and
releases any request still waiting.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEB_DATA = Path(__file__).resolve().parents[1] / "data" / "web"
HTML = "text/html; charset=utf-8"

TALKS = "/world/2025/05/16/istanbul-sailor-exchange"
TALKS_AMP = "/amp/world/2025/05/16/istanbul-sailor-exchange"
GRAIN = "/europe/grain-corridor-geneva"
ENERGY = "/latest/energy-pause-monitors"
COOKIE_WALL = "/subscribe/wall"
RSS = "/feeds/world.rss"
ATOM = "/feeds/latest.atom"
HUGE_BODY_BYTES = 50_000_000

PAGES = {
    TALKS: ("istanbul-talks.html", HTML),
    TALKS_AMP: ("istanbul-talks.amp.html", HTML),
    GRAIN: ("black-sea-grain.html", HTML),
    ENERGY: ("energy-pause.html", HTML),
    COOKIE_WALL: ("cookie-wall.html", HTML),
    RSS: ("feed.rss", "application/rss+xml; charset=utf-8"),
    ATOM: ("feed.atom", "application/atom+xml"),
}


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up early (a size limit, a timeout) is expected here: no traceback on
    stderr, where the CLI tests read the program's own messages."""

    def handle_error(self, request, client_address):
        pass


@dataclass
class Route:
    body: bytes
    content_type: str | None
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()


class NewsSite:
    def __init__(self, slow_seconds: float = 30.0):
        self.slow_seconds = slow_seconds
        self.routes: dict[str, Route] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.huge_bytes_sent = 0
        self.in_flight = 0  # requests being answered on /pause now, and the most at once
        self.max_in_flight = 0
        self._count_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        for path, (name, content_type) in PAGES.items():
            self.serve(path, name, content_type=content_type)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="news-site", daemon=True
        )

    # ---------------------------------------------------------------- control

    def __enter__(self) -> NewsSite:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def url(self, path: str) -> str:
        return self.base + path

    def page(self, name: str) -> bytes:
        """A file of tests/data/web with ``{{BASE}}`` filled in."""
        return (WEB_DATA / name).read_bytes().replace(b"{{BASE}}", self.base.encode())

    def serve(
        self,
        path: str,
        name: str | None = None,
        *,
        body: bytes | None = None,
        content_type: str | None = HTML,
        status: int = 200,
    ) -> None:
        """Serve a data file (``name``) or ``body`` at ``path`` from now on."""
        self.routes[path] = Route(self.page(name) if name else (body or b""), content_type, status)

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p.split("?", 1)[0] == path)

    # ---------------------------------------------------------------- the handler

    def _handler_class(self):
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # quiet: the tests look at site.requests
                pass

            def do_GET(self):
                site.requests.append((self.path, dict(self.headers.items())))
                path = self.path.split("?", 1)[0]
                special = site._special(path)
                if special is not None:
                    special(self)
                    return
                route = site.routes.get(path)
                if route is None:
                    self._send(404, b"<html><body><h1>Not found</h1></body></html>", HTML)
                    return
                etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
                if route.status == 200 and self.headers.get("If-None-Match") == etag:
                    self._send(304, b"", None, [("ETag", etag)])
                    return
                self._send(route.status, route.body, route.content_type, [("ETag", etag), *route.headers])

            def _send(self, status, body, content_type, headers=()):
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                for key, value in headers:
                    self.send_header(key, value)
                if status != 304:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if status != 304:
                    self.wfile.write(body)

            def redirect(self, location, status=302):
                self._send(status, b"", HTML, [("Location", location)])

        return Handler

    def _special(self, path: str):
        """The bad-case routes: handler → None, or None when ``path`` is not one of them."""
        if path in ("/status/404", "/status/500", "/status/403"):
            status = int(path.rsplit("/", 1)[1])
            return lambda h: h._send(status, b"<html><body>Error</body></html>", HTML)
        if path == "/redirect/loop-a":
            return lambda h: h.redirect("/redirect/loop-b")
        if path == "/redirect/loop-b":
            return lambda h: h.redirect(self.base + "/redirect/loop-a")
        if path.startswith("/redirect/chain/"):
            left = int(path.rsplit("/", 1)[1])
            return lambda h: h.redirect(f"/redirect/chain/{left - 1}" if left > 0 else TALKS)
        if path == "/redirect/talks":
            return lambda h: h.redirect(TALKS + "?utm_source=newsletter&utm_medium=email", 301)
        if path == "/redirect/metadata":
            return lambda h: h.redirect("http://169.254.169.254/latest/meta-data/")
        if path == "/redirect/no-location":
            return lambda h: h._send(302, b"", HTML)
        if path == "/redirect/ftp":
            return lambda h: h.redirect("ftp://127.0.0.1/file.txt")
        if path == "/slow":
            return self._slow
        if path == "/pause":
            return self._pause
        if path == "/huge":
            return self._huge
        if path == "/huge-declared":
            return self._declared_huge
        if path == "/image.png":
            return lambda h: h._send(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
        if path == "/no-type":
            return lambda h: h._send(200, self.page("istanbul-talks.html"), None)
        if path == "/feeds/not-a-feed.xml":
            return lambda h: h._send(
                200, b"<?xml version='1.0'?><note><to>Tove</to></note>", "application/xml"
            )
        if path == "/feeds/html":
            return lambda h: h._send(200, self.page("istanbul-talks.html"), HTML)
        return None

    def _slow(self, handler) -> None:
        """Answers only after ``slow_seconds`` (or when the site stops)."""
        self._stopping.wait(self.slow_seconds)
        try:
            handler._send(200, self.page("istanbul-talks.html"), HTML)
        except OSError:
            pass  # the client gave up long ago

    def _pause(self, handler) -> None:
        """The article after a short pause, counting how many such requests overlap."""
        with self._count_lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._stopping.wait(0.2)
            handler._send(200, self.page("istanbul-talks.html"), HTML)
        finally:
            with self._count_lock:
                self.in_flight -= 1

    def _huge(self, handler) -> None:
        """An HTML body of HUGE_BODY_BYTES without Content-Length, until the client hangs up."""
        handler.send_response(200)
        handler.send_header("Content-Type", HTML)
        handler.send_header("Connection", "close")
        handler.end_headers()
        chunk = b"<p>" + b"filler " * 9_000 + b"</p>\n"
        try:
            handler.wfile.write(b"<html><body>")
            while self.huge_bytes_sent < HUGE_BODY_BYTES and not self._stopping.is_set():
                handler.wfile.write(chunk)
                self.huge_bytes_sent += len(chunk)
        except OSError:
            pass  # the client stopped reading: what the test wants
        handler.close_connection = True

    def _declared_huge(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", HTML)
        handler.send_header("Content-Length", str(HUGE_BODY_BYTES))
        handler.send_header("Connection", "close")
        handler.end_headers()
        try:
            handler.wfile.write(b"<html><body>")  # and no more: the client must not wait for the rest
        except OSError:
            pass
        handler.close_connection = True
