"""X tiles: a recent search (`x:search`) or one account's posts (`x:user`), read through tweepy.

Docs: https://docs.x.com/x-api/posts/search-recent-posts
      https://docs.x.com/x-api/users/get-posts
      https://docs.x.com/x-api/users/user-lookup-by-username
      https://docs.x.com/x-api/fundamentals/rate-limits
X bills every post read (pay per use), so a fetch asks for at most the tile's max_items and always sends
since_id once a newest id is known: a quiet source costs one empty request, never a re-read. Authors come in the
same answer (expansions=author_id with name, username, profile_image_url). The token is the organisation's X
connection (a user-context OAuth 2.0 token sent as bearer); tweepy never waits on a rate limit here, a 429 becomes
RateLimited with the seconds until X's x-rate-limit-reset.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import tweepy

from providers.base import FeedItem, FeedPage, FeedReader, FeedSource, Permanent, ProviderSettings, checked_session
from providers.x import api

SEARCH_MIN, MAX_RESULTS = 10, 100  # search/recent takes 10..100 per request; users/:id/tweets 5..100
TIMELINE_MIN = 5
QUERY_LIMIT = 512  # characters, X's limit for recent search queries
USERNAME = re.compile(r"[A-Za-z0-9_]{1,15}")
TWEET_FIELDS = ("created_at", "author_id")
USER_FIELDS = ("name", "username", "profile_image_url")


class _XReader(FeedReader):
    """What both X tile kinds share: tweepy pointed at settings.api_base, X's errors mapped, posts to items."""

    connection_kind = "x"  # the organisation's connected X account
    credentials_from = "x"  # the provider whose settings (api_base, client) the reader uses
    # X bills the posts a read returns, not the request: with since_id a quiet minute costs nothing, and the
    # per-user windows (180 searches / 15 min) leave room for many tiles at one a minute.
    min_refresh_seconds = 60

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.http = checked_session(settings, settings.api_base)

    def refresh(self, tokens: Mapping[str, Any]) -> dict[str, Any]:
        """New tokens for an expired set, as the X publisher redeems them (rotating refresh token)."""
        from providers.x.publish import XPublisher

        return XPublisher(self.settings).refresh(tokens)

    def _call(self, source: FeedSource, call: Callable[[tweepy.Client], Any]) -> Any:
        """One tweepy call with the connection's token, X's answers mapped onto the provider errors."""
        return api.call(self.settings, self.http.verify, source.tokens, call, refused="read",
                        limited="X rate limit on reads")

    @staticmethod
    def _page(answer: Any, since_id: str | None) -> tuple[tuple[FeedItem, ...], str | None]:
        """Items newest first with their authors, and the cursor for next time (kept when nothing is new)."""
        tweets = list(answer.data or [])
        users = {str(u.id): u for u in (answer.includes or {}).get("users", [])}
        items = tuple(_item(tweet, users.get(str(tweet.author_id))) for tweet in tweets)
        newest = (answer.meta or {}).get("newest_id") or (str(tweets[0].id) if tweets else None)
        return items, str(newest) if newest else since_id


class XSearchReader(_XReader):
    """`x:search`: X's recent search (the last 7 days) for the tile's query."""

    kind = "x:search"
    address_label = "query"

    @classmethod
    def check_address(cls, address: str) -> str:
        """The query as X takes it: non-empty, at most 512 characters."""
        query = " ".join(address.split())
        if not query:
            raise ValueError("an x:search tile needs a search query, e.g. \"#learning -is:retweet\"")
        if len(query) > QUERY_LIMIT:
            raise ValueError(f"an X search query is at most {QUERY_LIMIT} characters (this one has {len(query)})")
        return query

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        """New posts matching the query since the cursor's post id."""
        query = self.check_address(source.address)
        since_id = cursor if cursor and cursor.isdigit() else None
        answer = self._call(source, lambda client: client.search_recent_tweets(
            query, since_id=since_id, max_results=_clamp(source.max_items, SEARCH_MIN), expansions=["author_id"],
            tweet_fields=list(TWEET_FIELDS), user_fields=list(USER_FIELDS), user_auth=False))
        items, newest = self._page(answer, since_id)
        return FeedPage(items=items[:source.max_items], cursor=newest, not_modified=not items)


class XUserReader(_XReader):
    """`x:user`: one account's own posts. The account's id is looked up once and kept in the cursor."""

    kind = "x:user"
    address_label = "user"

    @classmethod
    def check_address(cls, address: str) -> str:
        """A username, with or without @ (X's rule: 1-15 letters, digits or underscores)."""
        username = address.strip().removeprefix("@")
        if not USERNAME.fullmatch(username):
            raise ValueError(f"an x:user tile needs an X username such as @openedx, not {address!r}")
        return username

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        """The account's posts since the cursor's post id; the first fetch resolves the username."""
        username = self.check_address(source.address)
        known = _user_cursor(cursor, username)
        user_id = known.get("id") or self._user_id(source, username)
        since_id = known.get("since_id")
        answer = self._call(source, lambda client: client.get_users_tweets(
            user_id, since_id=since_id, max_results=_clamp(source.max_items, TIMELINE_MIN), expansions=["author_id"],
            tweet_fields=list(TWEET_FIELDS), user_fields=list(USER_FIELDS), user_auth=False))
        items, newest = self._page(answer, since_id)
        state = {"user": username.lower(), "id": user_id, **({"since_id": newest} if newest else {})}
        return FeedPage(items=items[:source.max_items], cursor=json.dumps(state, sort_keys=True),
                        not_modified=not items)

    def _user_id(self, source: FeedSource, username: str) -> str:
        answer = self._call(source, lambda client: client.get_user(username=username, user_auth=False))
        if answer.data is None:
            raise Permanent(self.name, f"X has no account @{username}")
        return str(answer.data.id)


def _user_cursor(cursor: str | None, username: str) -> dict[str, str]:
    """The stored user id and since_id, if they were made for this username (an edited tile starts afresh)."""
    try:
        state = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    if not isinstance(state, dict) or state.get("user") != username.lower():
        return {}
    return {k: str(v) for k, v in state.items() if k in ("id", "since_id") and str(v).isdigit()}


def _clamp(max_items: int, minimum: int) -> int:
    """X's bounds for max_results: fewer than its minimum cannot be asked for (the reader cuts the rest)."""
    return max(minimum, min(max_items, MAX_RESULTS))


def _item(tweet: tweepy.Tweet, user: tweepy.User | None) -> FeedItem:
    username = user.username if user is not None else None
    return FeedItem(
        remote_id=str(tweet.id),
        text=tweet.text,
        author=(user.name or user.username) if user is not None else None,
        avatar_url=getattr(user, "profile_image_url", None) if user is not None else None,
        link=f"https://x.com/{username or 'i'}/status/{tweet.id}",
        published_at=tweet.created_at if isinstance(tweet.created_at, datetime) else None,
    )
