"""Posting to Slack: chat.postMessage with Block Kit as the workspace's bot, or an incoming webhook URL.

Docs: https://docs.slack.dev/reference/methods/chat.postMessage
      https://docs.slack.dev/messaging/message-metadata
      https://docs.slack.dev/messaging/sending-messages-using-incoming-webhooks
The marker travels as message metadata and as the section's block_id, both invisible to people;
conversations.history(include_all_metadata) finds it again after a crash.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from providers.base import (
    AuthExpired,
    Permanent,
    Post,
    Published,
    RateLimited,
    ReadLimit,
    Target,
    Transient,
    check_address,
)
from providers.publishing import HttpPublisher, retry_after

DEFAULT_API_BASE = "https://slack.com"
HOOKS_HOST = "hooks.slack.com"
METADATA_EVENT = "hub_post"
CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{6,}")
HISTORY_PAGES = 3  # the marker is among the newest messages; do not page through a busy channel's past
# Which kind of Slack app the hub's is (provider option slack_app), first the default: an app a customer builds for
# its own workspace is "internal"; one a vendor distributes is "marketplace" once Slack approved it, else
# "non-marketplace". Since 2025 Slack limits conversations.history (and .replies) of non-Marketplace distributed apps
# to 1 request a minute and 15 objects a request, per workspace:
# https://docs.slack.dev/reference/methods/conversations.history, https://docs.slack.dev/apis/web-api/rate-limits
SLACK_APP_OPTION = "slack_app"
SLACK_APPS = ("internal", "marketplace", "non-marketplace")
NON_MARKETPLACE_HISTORY = ReadLimit(
    calls=1, per_seconds=60, max_items=15,
    reason="Slack allows a non-Marketplace app one conversations.history call a minute per workspace")
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_expired", "token_revoked", "account_inactive",
                         "no_permission", "missing_scope", "ekm_access_denied"})
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout",
                              "ratelimited"})
TIMEOUT = 15  # seconds, for slack_sdk (urllib)


def history_limit(options: Mapping[str, Any]) -> ReadLimit | None:
    """The conversations.history cap of the configured kind of Slack app: only non-Marketplace apps have one."""
    return NON_MARKETPLACE_HISTORY if options.get(SLACK_APP_OPTION) == "non-marketplace" else None


class SlackPublisher(HttpPublisher):
    kind = "slack"
    rate_limit = (1, 1)  # chat.postMessage: about 1 message per second per channel

    def read_limit(self) -> ReadLimit | None:
        """find() reads the channel's history: capped for a non-Marketplace app."""
        return history_limit(self.settings.options)

    def publish(self, target: Target, post: Post) -> Published:
        """A channel message from the bot, or an incoming-webhook post when the address is a hook URL."""
        if target.address.startswith(("https://", "http://")):
            return self._webhook(target.address, post)
        client = self._client(target)
        try:
            answer = client.chat_postMessage(
                channel=self._channel(target.address), text=fallback(post), blocks=blocks(post),
                metadata={"event_type": METADATA_EVENT, "event_payload": {"marker": post.marker}},
                unfurl_links=False)
            channel, ts = str(answer["channel"]), str(answer["ts"])
        except (OSError, SlackClientError) as exc:  # urllib raises URLError (an OSError) on refusal
            raise self._error(exc) from exc
        return Published(remote_id=f"{channel}:{ts}", url=self._permalink(client, channel, ts))

    def find(self, target: Target, marker: str) -> Published | None:
        """Scan the channel's newest messages for the marker; webhook posts cannot be looked up.

        A non-Marketplace app reads one page of 15 (its one history call of the minute, which the hub spaced): a post
        followed by 15 others before the look-up is not found, and the delivery is left for an admin (unknown)."""
        if target.address.startswith(("https://", "http://")):
            return None
        capped = self.read_limit()
        pages, per_page = (1, capped.max_items) if capped else (HISTORY_PAGES, 100)
        client = self._client(target)
        try:
            channel = self._channel_id(client, self._channel(target.address))
            if channel is None:
                return None
            cursor = None
            for _ in range(pages):
                page = client.conversations_history(channel=channel, limit=per_page, include_all_metadata=True,
                                                    cursor=cursor)
                for message in page.get("messages") or []:
                    if _carries(message, marker):
                        ts = str(message["ts"])
                        return Published(remote_id=f"{channel}:{ts}", url=self._permalink(client, channel, ts))
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except (OSError, SlackClientError) as exc:  # urllib raises URLError (an OSError) on refusal
            raise self._error(exc) from exc
        return None

    # --- plumbing -----------------------------------------------------------------------
    def _client(self, target: Target) -> WebClient:
        token = target.tokens.get("access_token") or target.tokens.get("bot_token")
        if not token:
            raise AuthExpired(self.name, "the Slack connection has no bot token (access_token)")
        base = (self.settings.api_base or DEFAULT_API_BASE).rstrip("/") + "/api/"
        # retry_handlers=[]: slack_sdk's handlers sleep in process; the delivery job reschedules instead.
        # check_address: slack_sdk connects through urllib itself, so the API host is resolved and checked here.
        return WebClient(token=str(token), base_url=check_address(base, self.settings), timeout=TIMEOUT,
                         ssl=self.ssl_context(), retry_handlers=[])

    @staticmethod
    def _channel(address: str) -> str:
        channel = address.strip()
        if not channel or channel == "#":
            raise Permanent("slack", "the destination names no Slack channel (slack:#channel or slack:C0123ABCD)")
        return channel

    def _channel_id(self, client: WebClient, channel: str) -> str | None:
        """conversations.history wants an id: resolve #name through conversations.list."""
        if CHANNEL_ID.fullmatch(channel):
            return channel
        name = channel.lstrip("#")
        cursor = None
        while True:
            page = client.conversations_list(types="public_channel,private_channel", limit=200,
                                             exclude_archived=True, cursor=cursor)
            for found in page.get("channels") or []:
                if found.get("name") == name:
                    return str(found["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None

    def _permalink(self, client: WebClient, channel: str, ts: str) -> str | None:
        try:
            return str(client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except (OSError, SlackClientError):
            return None  # the post is out; a missing link must not make it look failed

    def _webhook(self, url: str, post: Post) -> Published:
        self._check_hook(url)
        hook = WebhookClient(url, timeout=TIMEOUT, ssl=self.ssl_context(), retry_handlers=[])
        try:
            answer = hook.send(text=fallback(post), blocks=blocks(post), unfurl_links=False)
        except (OSError, SlackClientError) as exc:
            raise Transient(self.name, f"Slack did not answer: {type(exc).__name__}") from exc
        status, body = answer.status_code, (answer.body or "").strip()
        if status == 200:
            return Published(remote_id=post.marker, url=None)  # incoming webhooks return only "ok"
        if status == 429:
            raise RateLimited(self.name, "Slack rate limit (incoming webhook)", retry_after=retry_after(answer.headers))
        if status >= 500:
            raise Transient(self.name, f"Slack failed ({status})")
        raise Permanent(self.name, f"Slack refused the webhook post ({status}: {body[:100] or 'no message'})")

    def _check_hook(self, url: str) -> None:
        self.url(url)
        host = urlsplit(url).hostname
        allowed = {HOOKS_HOST} | ({urlsplit(self.settings.api_base).hostname} if self.settings.api_base else set())
        if host not in allowed:
            raise Permanent(self.name, f"slack webhook address must be on {HOOKS_HOST}, not {host!r}")
        check_address(url, self.settings)  # slack_sdk's WebhookClient connects through urllib itself

    def _error(self, exc: OSError | SlackClientError) -> Exception:
        return api_error(self.name, exc, "post")


def api_error(name: str, exc: OSError | SlackClientError, refused: str,
              permanent: Mapping[str, str] = MappingProxyType({})) -> Exception:
    """A failed Web API call as a provider error; refused names what Slack refused ("post", "read").

    permanent: the caller's own words for error codes that need an admin's action (not a retry).
    """
    if not isinstance(exc, SlackApiError):
        return Transient(name, f"Slack did not answer: {type(exc).__name__}")
    response = exc.response
    status = response.status_code
    code = str(response.get("error") or "") if isinstance(response.data, dict) else ""
    if status == 429 or code == "ratelimited":
        return RateLimited(name, "Slack rate limit", retry_after=retry_after(response.headers))
    if status == 401 or code in AUTH_ERRORS:
        return AuthExpired(name, f"Slack refused the bot token ({code or status})")
    if status >= 500 or code in TRANSIENT_ERRORS:
        return Transient(name, f"Slack failed ({code or status})")
    if code in permanent:
        return Permanent(name, permanent[code])
    return Permanent(name, f"Slack refused the {refused} ({code or status})")


def fallback(post: Post) -> str:
    """The notification and screen-reader text: the message with its link."""
    return f"{post.text} {post.link}" if post.link else post.text


def blocks(post: Post) -> list[dict[str, Any]]:
    """A section with the mrkdwn text and link, the image as its accessory."""
    text = _escape(post.text)
    if post.link:
        text += f"\n<{post.link}|{_escape(post.title or post.link)}>"
    section: dict[str, Any] = {"type": "section", "block_id": post.marker[:255],
                               "text": {"type": "mrkdwn", "text": text[:3000]}}
    if post.image_url:
        section["accessory"] = {"type": "image", "image_url": post.image_url,
                                "alt_text": (post.title or "image")[:2000]}
    return [section]


def _escape(text: str) -> str:
    """Slack's three control characters in mrkdwn."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _carries(message: dict[str, Any], marker: str) -> bool:
    metadata = message.get("metadata") or {}
    if (metadata.get("event_payload") or {}).get("marker") == marker:
        return True
    return any(block.get("block_id") == marker for block in message.get("blocks") or [])
