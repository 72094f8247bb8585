"""Fixtures for the tile core tests: two organisations, and a local JSON feed with its reader (tests/tiles/world.py)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.models import Organisation
from providers import registry
from tests.live import LiveHub
from tests.tiles.world import KIND, JsonFeed, Orgs


@pytest.fixture
def feed() -> Iterator[JsonFeed]:
    state = JsonFeed()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server's name
            status, headers, body = state.answer(parse_qs(urlsplit(self.path).query))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_port
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def json_kind(monkeypatch: pytest.MonkeyPatch) -> str:
    """Register LocalJsonReader as tile kind "test:json" for one test."""
    monkeypatch.setitem(registry.READERS, KIND, "tests.tiles.world:LocalJsonReader")
    return KIND


@pytest.fixture
def orgs(live: LiveHub) -> Orgs:
    with live.context() as session:
        partners, staff = Organisation(name="Partners Inc"), Organisation(name="Staff")
        session.add_all([partners, staff])
        session.commit()
        return Orgs(partners.id, staff.id)
