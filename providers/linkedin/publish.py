"""Posting to a member's LinkedIn feed: the Posts API (`/rest/posts`) with an article for the link.

Docs: https://learn.microsoft.com/linkedin/marketing/community-management/shares/posts-api
      https://learn.microsoft.com/linkedin/marketing/versioning
      https://learn.microsoft.com/linkedin/marketing/community-management/shares/little-text-format
Needs the member's token with `w_member_social`; the author is `urn:li:person:{sub}`. The new post's
URN comes back in the `x-restli-id` header. Posts have no hidden field, so the marker ends the
commentary. Reading posts back (find) needs `r_member_social`, which LinkedIn grants only to
approved partners: without it LinkedIn answers 403 and find() says it cannot know.
Access tokens last 60 days. Refresh tokens, too, come only to approved partners
(https://learn.microsoft.com/linkedin/shared/authentication/programmatic-refresh-tokens): with one
stored, refresh() redeems it at the sign-in app's token endpoint; without one the learner reconnects.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import quote

from providers.base import AuthExpired, Permanent, Post, Published, Target
from providers.linkedin import OLD_ISSUER_SUFFIX, LinkedIn
from providers.publishing import HttpPublisher, with_marker

DEFAULT_API_BASE = "https://api.linkedin.com"
# The one place the LinkedIn-Version header is set (YYYYMM). A new version ships monthly and LinkedIn sunsets each
# about a year later (202507 is gone): tests/providers/linkedin/test_version.py fails once this is more than
# VERSION_WARN_MONTHS old by the real date, so the bump comes a month before LinkedIn answers 426.
LINKEDIN_VERSION = "202611"
VERSION_LIFETIME_MONTHS = 12  # https://learn.microsoft.com/linkedin/marketing/versioning
VERSION_WARN_MONTHS = 11
COMMENTARY_LIMIT = 3000
# "little text": these characters are markup in commentary and must be escaped to show as themselves.
RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
FIND_COUNT = 20
TOKEN_PATH = "/oauth/v2/accessToken"  # under the issuer's host, as discovery says: https://www.linkedin.com/oauth/...


def version_age_months(version: str, today: date) -> int:
    """How many months `today`'s month is after a YYYYMM version (negative: a version not released yet)."""
    year, month = int(version[:4]), int(version[4:6])
    return (today.year - year) * 12 + today.month - month


class LinkedInPublisher(HttpPublisher):
    kind = "linkedin"
    rate_limit = (10, 60)  # daily member quotas are unpublished: stay well under them
    posts_as_learner = True
    address = "me"

    def publish(self, target: Target, post: Post) -> Published:
        """A PUBLIC post by the member, with the course or badge link as an article."""
        body: dict[str, Any] = {
            "author": self._author(target),
            "commentary": little_text(with_marker(post.text, post.marker, COMMENTARY_LIMIT)),
            "visibility": "PUBLIC",
            "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                             "thirdPartyDistributionChannels": []},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        if post.link:
            body["content"] = {"article": {"source": post.link, "title": post.title or post.link}}
        answer = self.send("POST", self._base() + "/rest/posts", json=body, headers=self._headers(target))
        urn = answer.headers.get("x-restli-id") or answer.headers.get("x-linkedin-id")
        if not urn:
            raise Permanent(self.name, "LinkedIn accepted the post but sent no x-restli-id")
        return Published(remote_id=urn, url=post_url(urn))

    def find(self, target: Target, marker: str) -> Published | None:
        """The member's latest posts, by author; None when LinkedIn will not show them (403)."""
        author = self._author(target)
        headers = self._headers(target) | {"X-RestLi-Method": "FINDER"}
        url = (f"{self._base()}/rest/posts?q=author&author={quote(author, safe='')}&count={FIND_COUNT}"
               "&sortBy=LAST_MODIFIED")
        try:
            answer = self.send("GET", url, headers=headers)
        except Permanent:
            return None  # no r_member_social: the post cannot be looked up
        for element in answer.json().get("elements") or []:
            if marker in str(element.get("commentary") or ""):
                urn = str(element["id"])
                return Published(remote_id=urn, url=post_url(urn))
        return None

    def refresh(self, tokens: Mapping[str, Any]) -> dict[str, Any]:
        """A new access token from the connection's refresh token (approved partners only); the same refresh
        token comes back, with what is left of its fixed year."""
        if not tokens.get("refresh_token"):
            raise Permanent(self.name, "the LinkedIn token expired (they last 60 days) and LinkedIn gives refresh "
                                       "tokens only to approved partners: reconnect the account")
        return self.redeem_refresh_token(self.token_url(), LinkedIn.token_auth_method, tokens, "LinkedIn")

    def token_url(self) -> str:
        """The sign-in app's token endpoint, on the configured issuer's host (either issuer spelling)."""
        root = (self.settings.issuer or LinkedIn.issuer_url).rstrip("/").removesuffix(OLD_ISSUER_SUFFIX)
        return root + TOKEN_PATH

    def _base(self) -> str:
        return (self.settings.api_base or DEFAULT_API_BASE).rstrip("/")

    def _author(self, target: Target) -> str:
        if target.address not in ("me", ""):
            raise Permanent(self.name,
                            f"linkedin destinations post as the member (linkedin:me), not {target.address!r}")
        if not target.account_id:
            raise Permanent(self.name, "the LinkedIn connection has no member id (account_id)")
        return f"urn:li:person:{target.account_id}"

    def _headers(self, target: Target) -> dict[str, str]:
        token = target.tokens.get("access_token")
        if not token:
            raise AuthExpired(self.name, "the LinkedIn connection has no access_token")
        return {"Authorization": f"Bearer {token}", "LinkedIn-Version": LINKEDIN_VERSION,
                "X-Restli-Protocol-Version": "2.0.0"}


def little_text(text: str) -> str:
    """Escape LinkedIn's little-text markup so parentheses, hashes and @ show as typed."""
    return RESERVED.sub(r"\\\1", text)


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"
