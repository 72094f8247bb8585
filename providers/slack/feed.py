"""Slack tiles (`slack:channel`): a public channel's newest messages, read as the workspace app's bot.

Docs: https://docs.slack.dev/reference/methods/conversations.history
      https://docs.slack.dev/reference/methods/conversations.info
      https://docs.slack.dev/reference/methods/users.info
      https://docs.slack.dev/reference/methods/auth.test
      https://docs.slack.dev/messaging/formatting-message-text
Only public, unarchived channels the organisation named: conversations.info is asked on every fetch, so a
channel made private later stops showing at once. `oldest` (exclusive) is the newest ts already seen, so each
fetch returns only new messages. Authors come from users.info, once per person per fetch; permalinks are built
on the workspace URL auth.test names (one call, kept in the cursor) instead of a chat.getPermalink per message.
Since 2025 a commercially distributed app outside the Slack Marketplace may call conversations.history once a minute
per workspace, for at most 15 messages; internal and Marketplace apps are exempt. With the provider option
slack_app=non-marketplace, read_limit() says so: a fetch asks for at most 15 and the hub spaces the fetches (and the
publisher's look-ups) of one workspace a minute apart. Every tile refreshes at most once a minute anyway.
"""
from __future__ import annotations

import html
import json
import re
import ssl
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from providers.base import (
    AuthExpired,
    FeedItem,
    FeedPage,
    FeedReader,
    FeedSource,
    Permanent,
    ProviderSettings,
    ReadLimit,
    check_address,
    checked_session,
    cursor_state,
)
from providers.slack.publish import CHANNEL_ID, DEFAULT_API_BASE, TIMEOUT, api_error, history_limit

CHANNEL_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,79}")
# Messages people wrote (plain, shared files, thread replies sent to the channel, bots): not joins, topics, pins.
SHOWN_SUBTYPES = frozenset({None, "bot_message", "file_share", "thread_broadcast", "me_message"})
# Slack's own markup in message text: <@U123>, <#C123|name>, <!here>, <https://url|label>.
MARKUP = re.compile(r"<([^<>]+)>")
# *bold*, _italic_, ~strike~ around words (Slack's mrkdwn emphasis); an asterisk inside a word or a lone one stays.
EMPHASIS = re.compile(r"(?<![\w*_~])([*_~])(?=\S)([^*_~\n]*?\S)\1(?![\w*_~])")
LIST_PAGES = 10  # conversations.list pages to look through for a channel name (200 a page)
# What the cursor keeps: the address it was made for, the channel id, the newest message's ts, the workspace URL.
CURSOR_KEYS = ("address", "channel", "oldest", "url")
# Read refusals with a fix to show the admin: the bot must be invited to the channel before it can read it.
READ_ERRORS = MappingProxyType({
    "not_in_channel": "the hub's Slack app is not in that channel: invite it (/invite @app)"})


class SlackChannelReader(FeedReader):
    kind = "slack:channel"
    connection_kind = "slack"  # the organisation's installed Slack app (bot token)
    credentials_from = "slack"
    min_refresh_seconds = 60
    address_label = "channel"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.http = checked_session(settings, settings.api_base)

    def read_limit(self) -> ReadLimit | None:
        """A fetch reads the channel's history once: capped for a non-Marketplace app."""
        return history_limit(self.settings.options)

    @classmethod
    def check_address(cls, address: str) -> str:
        """`#name` (lower-cased) or a channel id such as C0123ABCD."""
        channel = address.strip()
        if CHANNEL_ID.fullmatch(channel.upper()) and not channel.startswith("#"):
            return channel.upper()
        name = channel.removeprefix("#").lower()
        if not CHANNEL_NAME.fullmatch(name):
            raise ValueError(f"a slack:channel tile needs a channel such as #learning or C0123ABCD, not {address!r}")
        return f"#{name}"

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        """The channel's messages newer than the cursor's ts, newest first, with authors and permalinks."""
        address = self.check_address(source.address)
        state = cursor_state(cursor, address, CURSOR_KEYS)
        client = self._client(source)
        try:
            channel = state.get("channel") or self._channel_id(client, address)
            self._check_public(client, channel)
            capped = self.read_limit()
            most = capped.max_items if capped else 200
            args: dict[str, Any] = {"channel": channel, "limit": max(1, min(source.max_items, most))}
            if state.get("oldest"):
                args["oldest"] = state["oldest"]
            messages = client.conversations_history(**args).get("messages") or []
            if not messages:
                state = {**state, "address": address, "channel": channel}
                return FeedPage(items=(), cursor=json.dumps(state, sort_keys=True), not_modified=True)
            workspace = state.get("url") or str(client.auth_test().get("url") or "")
            people: dict[str, tuple[str | None, str | None]] = {}
            items = tuple(self._item(client, people, workspace, channel, m) for m in messages
                          if m.get("subtype") in SHOWN_SUBTYPES)
        except (OSError, SlackClientError) as exc:  # urllib raises URLError (an OSError) on refusal
            raise self._error(exc) from exc
        newest = max((str(m["ts"]) for m in messages), key=float)
        state = {**state, "address": address, "channel": channel, "oldest": newest, "url": workspace}
        return FeedPage(items=items[:source.max_items], cursor=json.dumps(state, sort_keys=True))

    # --- plumbing -----------------------------------------------------------------------
    def _client(self, source: FeedSource) -> WebClient:
        token = source.tokens.get("access_token") or source.tokens.get("bot_token")
        if not token:
            raise AuthExpired(self.name, "the Slack connection has no bot token (access_token)")
        base = (self.settings.api_base or DEFAULT_API_BASE).rstrip("/") + "/api/"
        context = ssl.create_default_context(cafile=self.settings.ca_bundle) if self.settings.ca_bundle else None
        # retry_handlers=[]: slack_sdk's handlers sleep in process; the refresh job reschedules instead.
        # check_address: slack_sdk connects through urllib itself, so the API host is resolved and checked here.
        return WebClient(token=str(token), base_url=check_address(base, self.settings), timeout=TIMEOUT, ssl=context,
                         retry_handlers=[])

    def _channel_id(self, client: WebClient, address: str) -> str:
        """A #name through conversations.list (public channels only); ids are used as they are."""
        if not address.startswith("#"):
            return address
        name, cursor = address[1:], None
        for _ in range(LIST_PAGES):
            page = client.conversations_list(types="public_channel", limit=200, exclude_archived=True, cursor=cursor)
            for found in page.get("channels") or []:
                if found.get("name") == name:
                    return str(found["id"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        raise Permanent(self.name, f"no public Slack channel {address} in the workspace (private channels are "
                                   "never shown in tiles)")

    def _check_public(self, client: WebClient, channel: str) -> None:
        info = client.conversations_info(channel=channel).get("channel") or {}
        if info.get("is_private") or info.get("is_group") or info.get("is_im") or info.get("is_mpim"):
            raise Permanent(self.name, f"Slack channel {channel} is private: tiles show only public channels")
        if info.get("is_archived"):
            raise Permanent(self.name, f"Slack channel {channel} is archived")

    def _item(self, client: WebClient, people: dict[str, tuple[str | None, str | None]], workspace: str,
              channel: str, message: dict[str, Any]) -> FeedItem:
        ts = str(message["ts"])
        author, avatar = self._person(client, people, message)
        link = f"{workspace.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}" if workspace else None
        return FeedItem(remote_id=ts, text=plain_text(str(message.get("text") or ""), people), author=author,
                        avatar_url=avatar, link=link,
                        published_at=datetime.fromtimestamp(float(ts), tz=UTC))

    def _person(self, client: WebClient, people: dict[str, tuple[str | None, str | None]],
                message: dict[str, Any]) -> tuple[str | None, str | None]:
        """Name and picture of a message's author: users.info once per person per fetch; bots carry their own."""
        user = message.get("user")
        if not user:
            profile = message.get("bot_profile") or {}
            return (profile.get("name") or message.get("username")), (profile.get("icons") or {}).get("image_48")
        if user not in people:
            try:
                found = client.users_info(user=user).get("user") or {}
            except SlackApiError as exc:
                if (exc.response.get("error") if isinstance(exc.response.data, dict) else None) != "user_not_found":
                    raise
                found = {}
            profile = found.get("profile") or {}
            name = (profile.get("display_name") or profile.get("real_name") or found.get("real_name")
                    or found.get("name"))
            people[user] = (name or None, profile.get("image_72") or profile.get("image_48"))
        return people[user]

    def _error(self, exc: OSError | SlackClientError) -> Exception:
        return api_error(self.name, exc, "read", READ_ERRORS)


def plain_text(text: str, people: dict[str, tuple[str | None, str | None]] | None = None) -> str:
    """Slack mrkdwn as plain text: links by their label, mentions by name, emphasis marks dropped, Slack's three
    escapes undone."""
    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            known = (people or {}).get(target[1:], (None, None))[0]
            return "@" + (label or known or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target
    return html.unescape(EMPHASIS.sub(r"\2", MARKUP.sub(replace, text)))
