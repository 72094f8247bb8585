"""Shared parts of the posting sandboxes: canned failures for the next calls, and tokens for tests."""
from __future__ import annotations

import secrets
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Response, jsonify

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
