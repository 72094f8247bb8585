"""tweepy pointed at the configured X API base (tweepy hard-codes https://api.twitter.com), its errors mapped once."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import requests
import tweepy
from requests import PreparedRequest, Response

from providers.base import (
    DEFAULT_TIMEOUT,
    AuthExpired,
    GuardedAdapter,
    Permanent,
    ProviderSettings,
    RateLimited,
    Transient,
    address_policy,
    guarded,
)
from providers.publishing import retry_after

T = TypeVar("T")

TWEEPY_HOST = "https://api.twitter.com"  # what tweepy.Client prefixes to every route
DEFAULT_API_BASE = "https://api.x.com"  # X's current name for the same API


class _Rebase(GuardedAdapter):
    """Rewrites tweepy's host to the API base (X, or a sandbox) and adds the timeouts tweepy never sets; the
    rewritten URL's host is checked as every provider call's is (GuardedAdapter)."""

    def __init__(self, base: str, settings: ProviderSettings, verify: bool | str = True) -> None:
        super().__init__(address_policy(settings), settings.name)
        self.base = base.rstrip("/")
        self.verify = verify

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        url = request.url or ""
        if url.startswith(TWEEPY_HOST):
            request.url = self.base + url[len(TWEEPY_HOST):]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = DEFAULT_TIMEOUT  # a slow X must not pin a web worker or a job
        # tweepy's session trusts the environment, and requests lets REQUESTS_CA_BUNDLE replace the session's
        # verify (psf/requests#3829): set here, HUB_CA_BUNDLE stays the one CA setting, as for every provider.
        kwargs["verify"] = self.verify
        return super().send(request, *args, **kwargs)


def client(access_token: str, settings: ProviderSettings, verify: bool | str = True) -> tweepy.Client:
    """A tweepy Client acting as the user (OAuth 2.0 user token), talking to the settings' API base."""
    api = tweepy.Client(bearer_token=access_token, wait_on_rate_limit=False)  # never sleep in process
    api.session.verify = verify
    guarded(api.session, settings)  # any URL tweepy builds off its host is checked too
    api.session.mount(TWEEPY_HOST + "/", _Rebase(settings.api_base or DEFAULT_API_BASE, settings, verify))
    return api


def call(settings: ProviderSettings, verify: bool | str, tokens: Mapping[str, Any], call: Callable[[tweepy.Client], T],
         *, refused: str, limited: str) -> T:
    """One tweepy call with the connection's token, X's answers mapped onto the provider errors.

    refused names what X refused ("read", "post") and limited is the RateLimited message, in the caller's words.
    """
    name = settings.name
    token = tokens.get("access_token")
    if not token:
        raise AuthExpired(name, "the X connection has no access_token")
    api = client(str(token), settings, verify)
    try:
        return call(api)
    except tweepy.TooManyRequests as exc:
        raise RateLimited(name, limited, retry_after=retry_after(exc.response.headers)) from exc
    except tweepy.Unauthorized as exc:
        raise AuthExpired(name, "X refused the access token (401)") from exc
    except tweepy.TwitterServerError as exc:
        raise Transient(name, f"X failed ({exc.response.status_code})") from exc
    except tweepy.HTTPException as exc:
        detail = "; ".join(exc.api_messages) or str(exc.response.status_code)
        raise Permanent(name, f"X refused the {refused} ({exc.response.status_code}): {detail[:200]}") from exc
    except requests.JSONDecodeError as exc:
        raise Permanent(name, "X answered with something that is not JSON") from exc
    except requests.RequestException as exc:
        raise Transient(name, f"X did not answer: {type(exc).__name__}") from exc
    finally:
        api.session.close()
