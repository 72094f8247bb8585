"""A request that announces a body it never sends: what a route answers before (or instead of) reading it."""
from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def announce_body(base_url: str, method: str, path: str, length: int, headers: dict[str, str]) -> Answer:
    """Send the head of a request with `Content-Length: length` and one byte of body, then read the answer."""
    where = urlsplit(base_url)
    connection = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=10)
    try:
        connection.putrequest(method, path)
        for name, value in {**headers, "Content-Length": str(length)}.items():
            connection.putheader(name, value)
        connection.endheaders(b"{")
        response = connection.getresponse()
        return Answer(response.status, response.getheader("Content-Type") or "", response.read())
    finally:
        connection.close()
