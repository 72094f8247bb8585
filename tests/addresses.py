"""Clients on other loopback addresses: Linux routes all of 127.0.0.0/8 to lo, so a client bound to 127.0.0.2
reaches the hub listening on 127.0.0.1, and the hub sees 127.0.0.2 as the client's address."""
from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter


class FromAddress(HTTPAdapter):
    """Connections leave from `address` (any port)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, source_address=(self.address, 0), **kwargs)


def from_address(address: str, session: requests.Session | None = None) -> requests.Session:
    """`session` (or a new one) sending every request from `address`."""
    session = session or requests.Session()
    session.trust_env = False
    session.mount("http://", FromAddress(address))
    session.mount("https://", FromAddress(address))
    return session
