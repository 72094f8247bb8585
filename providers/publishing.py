"""Shared plumbing for publishers: a checked HTTP session, status-to-error mapping, the marker in text.

Publishers never sleep or retry: every failure becomes one of the provider errors at once,
and the delivery job decides when to try again.
"""
from __future__ import annotations

import functools
import ssl
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from providers.base import (
    DEFAULT_TIMEOUT,
    Permanent,
    ProviderSettings,
    Publisher,
    RateLimited,
    Transient,
    UnsafeURL,
    check_url,
    checked_session,
    raise_for_status,
)

DEFAULT_RETRY_AFTER = 60.0


class HttpPublisher(Publisher):
    """A publisher with a requests session that honours the settings' URL rules and CA bundle."""

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        for base in (settings.api_base, settings.auth_base):  # a bad base is refused at once, as before
            if base:
                check_url(base, settings.insecure_loopback)

    @functools.cached_property
    def http(self) -> requests.Session:
        """Made on first use: a publisher built on an SDK (slack_sdk) never needs one, and a requests session with
        its guarded adapters is a noticeable part of a delivery's CPU (bench/deliver.py --profile)."""
        return checked_session(self.settings, self.settings.api_base, self.settings.auth_base)

    def url(self, url: str) -> str:
        """Refuse a destination URL that is not https (or loopback http when allowed): no retry fixes it."""
        try:
            return check_url(url, self.settings.insecure_loopback)
        except UnsafeURL as exc:
            raise Permanent(self.name, str(exc)) from exc

    def ssl_context(self) -> ssl.SSLContext | None:
        """For SDKs built on urllib (slack_sdk): the extra CA bundle, if any."""
        return ssl.create_default_context(cafile=self.settings.ca_bundle) if self.settings.ca_bundle else None

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One HTTP call with timeouts; transport failures are Transient, HTTP errors mapped by status."""
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        kwargs.setdefault("verify", self.http.verify)
        try:
            response = self.http.request(method, self.url(url), **kwargs)
        except requests.RequestException as exc:
            raise Transient(self.name, f"{self.name} did not answer: {type(exc).__name__}") from exc
        if response.status_code == 429:
            raise RateLimited(self.name, f"{self.name} rate limit", retry_after=retry_after(response.headers))
        if 400 <= response.status_code < 500 and response.status_code not in (401, 429):
            raise Permanent(self.name, f"{self.name} refused the post ({response.status_code}): "
                                       f"{error_text(response)}")
        raise_for_status(self.name, response)
        return response

    def redeem_refresh_token(self, token_url: str, auth_method: str, tokens: Mapping[str, Any],
                             label: str) -> dict[str, Any]:
        """The refresh-token grant (RFC 6749 section 6) through authlib: the provider's new token set.

        Keeps the refresh token redeemed when the answer carries none (providers that do not rotate). A refusal
        is Permanent (the learner must connect again; a rotating provider refuses a token already redeemed),
        429 RateLimited, 5xx or no answer Transient. Tokens never reach a message or a log.
        """
        refresh_token = tokens.get("refresh_token")
        if not refresh_token:
            raise Permanent(self.name, f"the {label} token expired and the connection has no refresh token: "
                                       "reconnect the account")
        if not self.settings.client_id:
            raise Permanent(self.name, f"the {label} token expired and no {label} app is configured to refresh it")
        client = OAuth2Session(client_id=self.settings.client_id, client_secret=self.settings.client_secret,
                               token_endpoint_auth_method=auth_method)
        client.trust_env = self.http.trust_env
        for prefix, adapter in self.http.adapters.items():  # the guarded adapters: the token URL is checked too
            client.mount(prefix, adapter)
        # authlib parses any JSON body as a token: statuses that are not refusals are mapped before it looks.
        client.register_compliance_hook("refresh_token_response", self._refresh_status)
        try:
            fresh = client.refresh_token(self.url(token_url), refresh_token=str(refresh_token),
                                         timeout=DEFAULT_TIMEOUT, verify=self.http.verify)
        except OAuthError as exc:  # an RFC 6749 error body
            if exc.error in ("invalid_client", "unauthorized_client"):
                raise Permanent(self.name, f"{label} refused the hub's client credentials ({exc.error}) when "
                                           "refreshing a token: check the provider's client id and secret") from exc
            raise Permanent(self.name, f"{label} refused the refresh token ({exc.error}): "
                                       "reconnect the account") from exc
        except requests.HTTPError as exc:  # an error status without an error body
            raise Permanent(self.name, f"{label} refused the refresh token "
                                       f"({exc.response.status_code if exc.response is not None else 'no status'}): "
                                       "reconnect the account") from exc
        except requests.RequestException as exc:
            raise Transient(self.name, f"{label} did not answer the token refresh: {type(exc).__name__}") from exc
        except ValueError as exc:  # a 2xx that is not a JSON object
            raise Transient(self.name, f"{label} answered the token refresh with something that is not JSON") from exc
        finally:
            client.close()
        if not fresh.get("access_token"):
            raise Permanent(self.name, f"{label} answered the token refresh without an access token")
        return dict(fresh)

    def _refresh_status(self, response: requests.Response) -> requests.Response:
        if response.status_code == 429:
            raise RateLimited(self.name, f"{self.name} rate limit on the token endpoint",
                              retry_after=retry_after(response.headers))
        if response.status_code >= 500:
            raise Transient(self.name, f"{self.name} failed to refresh the token ({response.status_code})")
        return response


def retry_after(headers: Any, now: float | None = None) -> float:
    """Seconds to wait from Retry-After (seconds or an HTTP date) or X's x-rate-limit-reset (epoch)."""
    now = time.time() if now is None else now
    value = str(headers.get("Retry-After") or "").strip()
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
            except (TypeError, ValueError):
                pass
    reset = str(headers.get("x-rate-limit-reset") or "").strip()
    if reset.isdigit():
        return max(float(reset) - now, 1.0)
    return DEFAULT_RETRY_AFTER


def error_text(response: requests.Response, limit: int = 200) -> str:
    """The provider's own words for a refusal, short enough for a delivery's last error."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:limit].strip() or response.reason or "no message"
    if isinstance(body, dict):
        for key in ("message", "detail", "error_description", "error", "title"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if value:
                return str(value)[:limit]
    return str(body)[:limit]


def with_marker(text: str, marker: str, limit: int | None = None) -> str:
    """Text followed by the marker on its own line, for networks with no hidden field; cut to fit a limit."""
    suffix = f"\n\n{marker}"
    if limit is not None and len(text) + len(suffix) > limit:
        text = text[: max(limit - len(suffix) - 1, 0)].rstrip() + "…"
    return text + suffix
