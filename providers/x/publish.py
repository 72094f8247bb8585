"""Posting to X as the member: tweepy's create_tweet (POST /2/tweets) with the user's OAuth 2.0 token.

Docs: https://docs.x.com/x-api/posts/create-post
      https://docs.x.com/x-api/users/get-posts
      https://docs.x.com/x-api/fundamentals/rate-limits
X bills every post, and posts with a URL far higher than posts without one (pay per use): post_cost()
declares the prices, which the hub shows in rule previews and deliveries and counts against an organisation's
monthly budget. Posts have no hidden field, so the marker ends the text; find() reads the
member's recent posts for it. tweepy never waits on a rate limit here (wait_on_rate_limit=False).
Access tokens last 2 hours: refresh() redeems the connection's refresh token (offline.access) at X's
token endpoint, https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import tweepy

from providers.base import Permanent, Post, Published, Target
from providers.publishing import HttpPublisher, with_marker
from providers.x import X, api

# Pay per use, the default since February 2026; prices since April 2026 (https://docs.x.com/x-api/getting-started/pricing):
# X counts a post as carrying a URL whatever its form (t.co wraps every link), so a link-free rule saves the difference.
POST_PRICE = Decimal("0.015")
POST_WITH_LINK_PRICE = Decimal("0.20")
TEXT_LIMIT = 280
URL_WEIGHT = 23  # every link counts as 23 characters (t.co)
FIND_COUNT = 20


class XPublisher(HttpPublisher):
    kind = "x"
    rate_limit = (100, 900)  # POST /2/tweets: 100 per 15 minutes per user
    posts_as_learner = True
    address = "me"
    # Shown to admins who add a rule to X: pay-per-use pricing charges far more for a post with a URL.
    admin_note = (f"X bills posts that contain a link far more than plain posts (${POST_WITH_LINK_PRICE} against "
                  f"${POST_PRICE} each): set the organisation's monthly budget (hub org set NAME --x-monthly-budget "
                  "USD) or post without the link (--without-link)")

    @classmethod
    def post_cost(cls, has_link: bool) -> Decimal:
        """X's pay-per-use price of one post (Post: Create), higher when it carries a URL."""
        return POST_WITH_LINK_PRICE if has_link else POST_PRICE

    def publish(self, target: Target, post: Post) -> Published:
        """One post; the link rides at the end of the text, where X makes its card."""
        budget = TEXT_LIMIT - (URL_WEIGHT + 1 if post.link else 0)
        text = with_marker(post.text, post.marker, budget)
        if post.link:
            text = _join(text, post.link)
        answer = self._call(target, lambda client: client.create_tweet(text=text, user_auth=False))
        data = answer.data or {}
        if not data.get("id"):
            raise Permanent(self.name, "X accepted the post but sent no id")
        return Published(remote_id=str(data["id"]), url=post_url(str(data["id"])))

    def refresh(self, tokens: Mapping[str, Any]) -> dict[str, Any]:
        """New tokens for an expired set: X's refresh-token grant, with the sign-in app's credentials (Basic).

        X rotates refresh tokens: each works once and the answer carries its successor, so the caller must
        store the result before anything else redeems the old one (the hub serialises refreshes per connection).
        """
        token_url = X(self.settings).endpoints()["token_endpoint"]  # the sign-in's endpoint, overrides applied
        return self.redeem_refresh_token(token_url, X.token_auth_method, tokens, "X")

    def find(self, target: Target, marker: str) -> Published | None:
        """The member's newest posts (GET /2/users/:id/tweets), scanned for the marker."""
        if not target.account_id:
            return None
        answer = self._call(target, lambda client: client.get_users_tweets(
            target.account_id, max_results=FIND_COUNT, user_auth=False))
        for tweet in answer.data or []:
            if marker in tweet.text:
                return Published(remote_id=str(tweet.id), url=post_url(str(tweet.id)))
        return None

    def _call(self, target: Target, call: Callable[[tweepy.Client], Any]) -> Any:
        """Run one tweepy call, mapping X's answers onto the provider errors."""
        if target.address not in ("me", ""):
            raise Permanent(self.name, f"x destinations post as the member (x:me), not {target.address!r}")
        return api.call(self.settings, self.http.verify, target.tokens, call, refused="post", limited="X rate limit")


def _join(text: str, link: str) -> str:
    head, _, marker = text.rpartition("\n\n")
    return f"{head} {link}\n\n{marker}"


def post_url(tweet_id: str) -> str:
    return f"https://x.com/i/status/{tweet_id}"
