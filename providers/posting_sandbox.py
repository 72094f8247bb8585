"""Shared parts of the posting sandboxes: canned failures for the next calls, tokens for tests, a page of posts."""
from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Response, jsonify, render_template_string

from providers.sandbox_kit import Grant, SandboxIdP


@dataclass
class Canned:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class PostingFaults:
    """Answers the next posting calls with canned failures (429, 5xx, error bodies), as tests ask."""

    def __init__(self) -> None:
        self._queue: deque[Canned] = deque()
        self._lock = threading.Lock()

    def push(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None, times: int = 1) -> None:
        with self._lock:
            self._queue.extend(Canned(status, body, dict(headers or {})) for _ in range(times))

    def pop(self) -> tuple[Response, int] | None:
        with self._lock:
            canned = self._queue.popleft() if self._queue else None
        if canned is None:
            return None
        response = jsonify(canned.body) if canned.body is not None else Response(status=canned.status)
        response.headers.update(canned.headers)
        return response, canned.status


def issue_token(sandbox: SandboxIdP, sub: str, scope: str, client_id: str = "sandbox-client") -> str:
    """An access token for a sandbox user, as if they had connected the account (provider-level tests)."""
    user = next(u for u in sandbox.users if u["sub"] == sub)
    token = secrets.token_urlsafe(32)
    sandbox.tokens[token] = Grant(client_id, None, user, scope, None, None)
    return token


# A sandbox's human view of what was posted to it (the demo links to these), in the Slack sandbox's style.
POSTS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1d1c1d}
h2{border-left:6px solid {{ colour }};padding-left:.5rem}article{border:1px solid #ddd;border-radius:8px;padding:.7rem;
margin:.5rem 0}article p{white-space:pre-wrap;overflow-wrap:anywhere;margin:0 0 .3rem}small{color:#555}</style>
</head><body><main><h1>{{ title }}</h1>
{% for heading, posts in sections %}<section><h2>{{ heading }}</h2>
{% for text, meta in posts %}<article><p>{{ text }}</p>{% if meta %}<small>{{ meta }}</small>{% endif %}</article>
{% else %}<p>No posts yet.</p>{% endfor %}</section>{% endfor %}</main></body></html>"""


def posts_page(title: str, colour: str, sections: Iterable[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """The page of a sandbox's posts: (heading, [(text, small print)]) per section, oldest first."""
    return render_template_string(POSTS_PAGE, title=title, colour=colour, sections=list(sections))
