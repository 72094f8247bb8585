"""Yammer / Viva Engage tiles (`yammer:group`): a community's newest threads through REST v1.

Docs: https://learn.microsoft.com/rest/api/yammer/messages-in-group
      https://learn.microsoft.com/rest/api/yammer/yammer-rest-api-v1-message-object
      https://learn.microsoft.com/viva/engage/configure-your-viva-engage-network/rest-api-rate-limits
GET /api/v1/messages/in_group/{id}.json?threaded=true&newer_than={newest id seen}: only thread starters, only
new ones. Senders come in the same answer's `references`. The token is the delegated one the Yammer publisher
redeems (msal, https://www.yammer.com/.default, from the organisation's connection's refresh token; Yammer has no
application permissions). Message endpoints allow 10 requests per 30 s per user, and Yammer asks pollers to
come at most once a minute: min_refresh_seconds is 60.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

import requests

from providers.base import (
    DEFAULT_TIMEOUT,
    AuthExpired,
    FeedItem,
    FeedPage,
    FeedReader,
    FeedSource,
    Permanent,
    ProviderSettings,
    RateLimited,
    Target,
    Transient,
    check_url,
)
from providers.publishing import retry_after
from providers.yammer.publish import DEFAULT_API_BASE, EXTERNAL, YammerPublisher

PAGE_LIMIT = 20  # in_group returns at most 20 messages a request
WINDOW_SECONDS = 30.0  # the message endpoints' window, when a 429 names no Retry-After
CREATED_AT = "%Y/%m/%d %H:%M:%S %z"  # v1's "2026/09/01 08:00:00 +0000"


class YammerGroupReader(FeedReader):
    kind = "yammer:group"
    connection_kind = "yammer"  # the organisation's connected Yammer account
    # As the Yammer publisher: the Microsoft (Entra) app's credentials, and in the sandbox the API beside Entra.
    credentials_from = YammerPublisher.credentials_from
    api_under_auth_base = YammerPublisher.api_under_auth_base
    min_refresh_seconds = 60
    address_label = "group"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.tokens = YammerPublisher(settings)  # the token plumbing (msal, rotation) is the publisher's

    @classmethod
    def check_address(cls, address: str) -> str:
        """The numeric v1 group id; a new-style Viva Engage id (base64 of {"_type":"Group","id":...}) is decoded."""
        value = address.strip()
        if value.isdigit():
            return value
        decoded = _graphql_group_id(value)
        if decoded:
            return decoded
        raise ValueError(f"a yammer:group tile needs the community's numeric group id (the number in its URL), "
                         f"not {address!r}")

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        """The group's threads newer than the cursor's message id, newest first, with their senders."""
        group = self.check_address(source.address)
        newer_than = cursor if cursor and cursor.isdigit() else None
        params: dict[str, Any] = {"threaded": "true", "limit": max(1, min(source.max_items, PAGE_LIMIT))}
        if newer_than:
            params["newer_than"] = newer_than
        answer = self._get(source, f"/api/v1/messages/in_group/{group}.json", params)
        messages = [m for m in answer.get("messages") or [] if isinstance(m, dict) and m.get("id") is not None]
        if not messages:
            return FeedPage(items=(), cursor=newer_than, not_modified=True)
        people = {str(r.get("id")): r for r in answer.get("references") or []
                  if isinstance(r, dict) and r.get("type") == "user"}
        messages.sort(key=lambda m: int(m["id"]), reverse=True)
        items = tuple(_item(m, people.get(str(m.get("sender_id")))) for m in messages[:source.max_items])
        return FeedPage(items=items, cursor=str(messages[0]["id"]))

    def _get(self, source: FeedSource, path: str, params: dict[str, Any]) -> dict[str, Any]:
        target = Target(address=source.address, tokens=source.tokens, on_rotated=source.on_rotated)
        headers = {"Authorization": f"Bearer {self.tokens.access_token(target)}"}
        if self.settings.options.get("external_groups"):
            headers["yammer-capabilities"] = EXTERNAL
        url = (self.settings.api_base or DEFAULT_API_BASE).rstrip("/") + path
        try:
            response = self.tokens.http.get(check_url(url, self.settings.insecure_loopback), params=params,
                                            headers=headers, timeout=DEFAULT_TIMEOUT, verify=self.tokens.http.verify)
        except requests.RequestException as exc:
            raise Transient(self.name, f"Yammer did not answer: {type(exc).__name__}") from exc
        status = response.status_code
        if status == 429:
            wait = retry_after(response.headers) if response.headers.get("Retry-After") else WINDOW_SECONDS
            raise RateLimited(self.name, "Yammer rate limit (10 requests per 30 s per user)", retry_after=wait)
        if status == 401:
            raise AuthExpired(self.name, "Yammer refused the token (401)")
        if status == 404:
            raise Permanent(self.name, "Yammer has no such group, or the connected account cannot see it")
        if status >= 500:
            raise Transient(self.name, f"Yammer failed ({status})")
        if status >= 400:
            raise Permanent(self.name, f"Yammer refused the read ({status}): {_message(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise Permanent(self.name, "Yammer answered with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise Permanent(self.name, "Yammer answered with something that is not a message list")
        return body


def _item(message: dict[str, Any], sender: dict[str, Any] | None) -> FeedItem:
    body = message.get("body") or {}
    return FeedItem(
        remote_id=str(message["id"]),
        text=str(body.get("plain") or body.get("parsed") or ""),
        html=body.get("rich") or None,
        author=(sender or {}).get("full_name") or (sender or {}).get("name") or None,
        avatar_url=(sender or {}).get("mugshot_url") or None,
        link=message.get("web_url") or None,
        published_at=_time(message.get("created_at")),
    )


def _time(value: Any) -> datetime | None:
    try:
        return datetime.strptime(str(value), CREATED_AT).astimezone(UTC)
    except ValueError:
        return None


def _graphql_group_id(value: str) -> str | None:
    """Viva Engage's new ids are base64 of JSON naming the v1 id: eyJfdHlwZSI6Ikdyb3VwIiwiaWQiOiIxMjM0NTYifQ."""
    try:
        decoded = json.loads(base64.b64decode(value + "=" * (-len(value) % 4), validate=True))
    except (binascii.Error, ValueError):
        return None
    if isinstance(decoded, dict) and decoded.get("_type") == "Group" and str(decoded.get("id", "")).isdigit():
        return str(decoded["id"])
    return None


def _message(response: requests.Response) -> str:
    try:
        return str(((response.json() or {}).get("response") or {}).get("message") or response.status_code)[:200]
    except (ValueError, AttributeError):
        return str(response.status_code)
