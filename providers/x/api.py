"""tweepy pointed at the configured X API base: tweepy hard-codes https://api.twitter.com."""
from __future__ import annotations

from typing import Any

import tweepy
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter

from providers.base import DEFAULT_TIMEOUT

TWEEPY_HOST = "https://api.twitter.com"  # what tweepy.Client prefixes to every route
DEFAULT_API_BASE = "https://api.x.com"  # X's current name for the same API


class _Rebase(HTTPAdapter):
    """Rewrites tweepy's host to the API base (X, or a sandbox) and adds the timeouts tweepy never sets."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base.rstrip("/")

    def send(self, request: PreparedRequest, **kwargs: Any) -> Response:  # type: ignore[override]
        url = request.url or ""
        if url.startswith(TWEEPY_HOST):
            request.url = self.base + url[len(TWEEPY_HOST):]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT  # a slow X must not pin a web worker or a job
        return super().send(request, **kwargs)


def client(access_token: str, api_base: str | None, verify: bool | str = True) -> tweepy.Client:
    """A tweepy Client acting as the user (OAuth 2.0 user token), talking to api_base."""
    api = tweepy.Client(bearer_token=access_token, wait_on_rate_limit=False)  # never sleep in process
    api.session.verify = verify
    api.session.mount(TWEEPY_HOST + "/", _Rebase(api_base or DEFAULT_API_BASE))
    return api
