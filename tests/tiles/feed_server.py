"""A local, hostile-on-demand feed server for the fetcher and RSS reader tests: real HTTP on 127.0.0.1.

Tests register what each path answers (a feed with validators, a redirect, a gzip bomb, an endless or
dribbling body, a status) and read back every request the server saw, headers included, to prove what
the client sent (If-None-Match) and what it never asked for (a DTD).
"""
from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = Callable[[BaseHTTPRequestHandler], None]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    """Routes by exact path; `requests` lists every request in order."""

    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path}"

    def seen(self, path: str) -> list[Seen]:
        return [request for request in self.requests if request.path == path]

    def feed(self, path: str, body: bytes | str, content_type: str = "application/rss+xml; charset=utf-8",
             etag: str | None = None, last_modified: str | None = None) -> None:
        """A feed with optional validators, answering 304 to a matching conditional GET."""
        data = body.encode() if isinstance(body, str) else body

        def handle(request: BaseHTTPRequestHandler) -> None:
            if (etag and request.headers.get("If-None-Match") == etag) or \
                    (last_modified and not etag and request.headers.get("If-Modified-Since") == last_modified):
                request.send_response(304)
                _validators(request, etag, last_modified)
                request.end_headers()
                return
            request.send_response(200)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(data)))
            _validators(request, etag, last_modified)
            request.end_headers()
            request.wfile.write(data)

        self.routes[path] = handle

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        def handle(request: BaseHTTPRequestHandler) -> None:
            request.send_response(status)
            request.send_header("Location", location)
            request.send_header("Content-Length", "0")
            request.end_headers()

        self.routes[path] = handle

    def status(self, path: str, status: int, headers: dict[str, str] | None = None) -> None:
        def handle(request: BaseHTTPRequestHandler) -> None:
            request.send_response(status)
            for name, value in (headers or {}).items():
                request.send_header(name, value)
            request.send_header("Content-Length", "0")
            request.end_headers()

        self.routes[path] = handle

    def gzip_bomb(self, path: str, size: int) -> None:
        """`size` zero bytes gzipped (about a thousandth of that on the wire), announced with its small length."""
        data = gzip.compress(b"\0" * size, compresslevel=9)

        def handle(request: BaseHTTPRequestHandler) -> None:
            request.send_response(200)
            request.send_header("Content-Type", "application/rss+xml")
            request.send_header("Content-Encoding", "gzip")
            request.send_header("Content-Length", str(len(data)))
            request.end_headers()
            request.wfile.write(data)

        self.routes[path] = handle

    def endless(self, path: str) -> None:
        """A body with no length that never ends (until the client hangs up)."""
        def handle(request: BaseHTTPRequestHandler) -> None:
            request.send_response(200)
            request.send_header("Content-Type", "application/rss+xml")
            request.end_headers()
            chunk = b"<item>" + b"x" * 65536 + b"</item>"
            try:
                while True:
                    request.wfile.write(chunk)
            except OSError:
                pass

        self.routes[path] = handle

    def dribble(self, path: str, interval: float, headers_too: bool = False) -> None:
        """Slowloris: one byte every `interval` seconds, of the body (or of the status line and headers too)."""
        def handle(request: BaseHTTPRequestHandler) -> None:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nContent-Length: 100000\r\n\r\n"
            try:
                if headers_too:
                    for byte in head:
                        request.wfile.write(bytes([byte]))
                        request.wfile.flush()
                        time.sleep(interval)
                else:
                    request.wfile.write(head)
                while True:
                    request.wfile.write(b" ")
                    request.wfile.flush()
                    time.sleep(interval)
            except OSError:
                pass
            request.close_connection = True

        self.routes[path] = handle


def _validators(request: BaseHTTPRequestHandler, etag: str | None, last_modified: str | None) -> None:
    if etag:
        request.send_header("ETag", etag)
    if last_modified:
        request.send_header("Last-Modified", last_modified)


def _handler_class(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            server.requests.append(Seen(self.path, {name.lower(): value for name, value in self.headers.items()}))
            route = server.routes.get(self.path.split("?", 1)[0])
            if route is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            route(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def served() -> Iterator[FeedServer]:
    """A FeedServer on an ephemeral port of 127.0.0.1, stopped when the generator closes (the fixtures' teardown)."""
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(state))
    httpd.daemon_threads = True
    state.port = httpd.server_port
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
