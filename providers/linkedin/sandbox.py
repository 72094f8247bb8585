"""A local LinkedIn: OIDC discovery under /oauth, authorize, accessToken, userinfo and JWKS.

Faithful to what strict clients trip over: discovery names no token endpoint auth
method yet only client_secret_post works, a code_challenge is refused (PKCE is not
enabled for web apps), and some ID tokens carry the pre-2024 issuer without `/oauth`.
Access tokens last 60 days (`expire` ages one past that: /rest/posts answers 401). Refresh
tokens come only to apps approved for them (`approve_refresh_tokens`, as LinkedIn's MDP
partners): they live a fixed year, are not rotated, and each redemption gives a new access token
and the same refresh token with what is left of its year. `refresh_hits` counts redemptions.
Revocation: POST /oauth/v2/revoke with `token`, `client_id` and `client_secret` in the body answers 200 with an
empty body and ends that token: /rest/posts then answers 401 REVOKED_ACCESS_TOKEN (serviceErrorCode 65602), the
userinfo endpoint 401, a refresh with it invalid_grant. `revoked` lists the tokens; `revoke_faults` answers the next
revocations with canned failures (a 500).
/rest/posts answers 426 NONEXISTENT_VERSION to a LinkedIn-Version that is sunset (a year old by `today`) or not out yet.
"""
from __future__ import annotations

import dataclasses
import itertools
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from flask import Response, jsonify, request

from providers.linkedin.publish import VERSION_LIFETIME_MONTHS, version_age_months
from providers.posting_sandbox import PostingFaults, posts_page
from providers.sandbox_kit import Grant, SandboxIdP

# LinkedIn member ids are opaque strings; the ID token carries the lite profile and email.
USERS = [
    {"sub": "782bbtaQ", "name": "Linh Nguyen", "given_name": "Linh", "family_name": "Nguyen",
     "picture": "https://media.licdn.com/dms/image/linh", "email": "linh@partner.example",
     "email_verified": True, "locale": "en_US"},
    {"sub": "Qx9Lm2Pe", "name": "Omar Haddad", "given_name": "Omar", "family_name": "Haddad",
     "picture": "https://media.licdn.com/dms/image/omar", "email": "omar@consult.example",
     "email_verified": True, "locale": "en_US"},
]
# Members whose ID tokens carry the old issuer (https://www.linkedin.com, i.e. without /oauth).
OLD_ISSUER_SUBS = frozenset({"Qx9Lm2Pe"})


class LinkedInSandbox(SandboxIdP):
    """The kit, with LinkedIn's discovery gaps and both issuer values."""
    # The page people read (the demo LMS links it): path under /sandbox/<kind>, network, what it shows.
    posts_view = ("/feed", "LinkedIn", "The members' feed")

    def __init__(self) -> None:
        super().__init__(
            "linkedin", title="LinkedIn", colour="#0a66c2", users=USERS,
            issuer_path="/oauth",
            discovery_path="/oauth/.well-known/openid-configuration",
            authorize_path="/oauth/v2/authorization",
            token_path="/oauth/v2/accessToken",
            jwks_path="/oauth/openid/jwks",
            userinfo_path="/v2/userinfo",  # api.linkedin.com/v2/userinfo in production
            pkce="rejected",
            auth_methods=("client_secret_post",),
            token_lifetime=5184000,  # 60 days
        )
        self.client_auth_seen: list[str] = []
        self.refresh_clients: set[str] = set()  # apps approved for programmatic refresh tokens
        self.refresh_tokens: dict[str, tuple[Grant, float]] = {}  # token -> (grant, expires at)
        self.refresh_hits = 0
        self.posts: list[dict[str, Any]] = []
        # Whose month LinkedIn-Version is judged by: a version is active for VERSION_LIFETIME_MONTHS from its own.
        self.today: Callable[[], date] = lambda: datetime.now(UTC).date()
        self.posting_faults = PostingFaults()
        self.revoked: list[str] = []  # tokens /oauth/v2/revoke ended, in order
        self.revoke_faults = PostingFaults()
        self.blueprint.add_url_rule("/oauth/v2/revoke", "revoke", self.revoke, methods=["POST"])
        self._ids = itertools.count(7100000000000000001)
        self._post_lock = threading.Lock()
        self.blueprint.add_url_rule("/rest/posts", "rest_posts", self.rest_posts, methods=["GET", "POST"])
        self.blueprint.add_url_rule("/feed", "feed", self.feed_page)

    def discovery_document(self) -> dict[str, Any]:
        document = super().discovery_document()
        # LinkedIn's discovery says nothing about client authentication (nor PKCE).
        document.pop("token_endpoint_auth_methods_supported", None)
        document["subject_types_supported"] = ["pairwise"]
        return document

    def authenticate_client(self) -> str | None:
        self.client_auth_seen.append("client_secret_basic" if request.authorization else
                                     "client_secret_post" if "client_secret" in request.form else "none")
        return super().authenticate_client()

    # --- programmatic refresh tokens (approved partners only) ----------------------------------
    def approve_refresh_tokens(self, client_id: str) -> None:
        """Let this app receive refresh tokens, as LinkedIn does for approved partners (tests)."""
        self.refresh_clients.add(client_id)

    def token(self) -> Any:
        if request.form.get("grant_type") == "refresh_token":
            return self.refresh()
        return super().token()

    def token_response(self, grant: Grant, access_token: str) -> dict[str, Any]:
        return super().token_response(grant, access_token) | self._refresh_part(grant)

    def _refresh_part(self, grant: Grant) -> dict[str, Any]:
        """A new refresh token for an approved app; nothing for the others."""
        if grant.client_id not in self.refresh_clients:
            return {}
        refresh_token = secrets.token_urlsafe(48)
        self.refresh_tokens[refresh_token] = (grant, time.time() + REFRESH_LIFETIME)
        return {"refresh_token": refresh_token, "refresh_token_expires_in": REFRESH_LIFETIME}

    def refresh(self) -> Any:
        """A new 60-day access token; the refresh token stays the same and keeps its fixed expiry. No ID token."""
        client_id = self.authenticate_client()
        if client_id is None:
            return self.error_body("invalid_client", "Client authentication failed", 401)
        refresh_token = request.form.get("refresh_token", "")
        grant, expires_at = self.refresh_tokens.get(refresh_token, (None, 0.0))
        if grant is None or grant.client_id != client_id or expires_at <= time.time():
            return self.error_body("invalid_grant", "The provided authorization grant or refresh token is invalid, "
                                                    "expired or revoked.", 400)
        with self._lock:
            self.refresh_hits += 1
        return jsonify(self._access(grant) | {"refresh_token": refresh_token,
                                               "refresh_token_expires_in": int(expires_at - time.time())})

    def _access(self, grant: Grant) -> dict[str, Any]:
        """A fresh access token for the grant's member and scopes."""
        fresh = Grant(grant.client_id, None, grant.user, grant.scope, None, None)
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = fresh
        return {"access_token": access_token, "expires_in": self.token_lifetime, "scope": grant.scope}

    def issue_tokens(self, client_id: str, sub: str, scope: str = "openid profile w_member_social") -> dict[str, Any]:
        """A token answer for a member as if they had connected the account (a refresh token if the app is approved)."""
        user = next(u for u in self.users if u["sub"] == sub)
        grant = Grant(client_id, None, user, scope, None, None)
        return self._access(grant) | self._refresh_part(grant)

    def expire(self, access_token: str) -> None:
        """Age one access token past its 60 days."""
        with self._lock:
            grant = self.tokens[access_token]
            self.tokens[access_token] = dataclasses.replace(grant, issued_at=time.time() - self.token_lifetime - 1)

    def revoke(self) -> Any:
        """End the named access or refresh token of this client; an unknown token is answered 200 too (RFC 7009)."""
        canned = self.revoke_faults.pop()
        if canned:
            return canned
        client_id = self.authenticate_client()
        if client_id is None:
            return self.error_body("invalid_client", "Client authentication failed", 401)
        token = request.form.get("token", "")
        if not token:
            return self.error_body("invalid_request", "A required parameter \"token\" is missing", 400)
        with self._lock:
            grant = self.tokens.get(token)
            if grant is not None and grant.client_id == client_id:
                del self.tokens[token]
            held = self.refresh_tokens.get(token)
            if held is not None and held[0].client_id == client_id:
                del self.refresh_tokens[token]
            self.revoked.append(token)
        return Response(status=200)

    def id_claims(self, grant: Grant) -> dict[str, Any]:
        claims = super().id_claims(grant)
        if grant.user["sub"] in OLD_ISSUER_SUBS:
            claims["iss"] = self.base()  # the issuer without /oauth, as before April 2024
        return claims

    # --- posting: the Posts API -------------------------------------------------------------
    def rest_posts(self) -> Any:
        """POST creates a member post (201, id in x-restli-id); GET ?q=author finds the member's posts."""
        canned = self.posting_faults.pop()
        if canned:
            return canned
        grant = self.bearer_grant()
        if grant is None and request.headers.get("Authorization", "")[len("Bearer "):] in self.revoked:
            return _rest_error(401, "The token used in the request has been revoked by the user",
                               "REVOKED_ACCESS_TOKEN", 65602)
        if grant is None:
            return _rest_error(401, "Invalid access token", "INVALID_ACCESS_TOKEN", 65600)
        if time.time() - grant.issued_at > self.token_lifetime:
            return _rest_error(401, "The token used in the request has expired", "EXPIRED_ACCESS_TOKEN", 65601)
        version = request.headers.get("LinkedIn-Version", "")
        if not VERSION.fullmatch(version) or not 0 <= version_age_months(version, self.today()) \
                < VERSION_LIFETIME_MONTHS:  # sunset a year after release; none from the future either
            return _rest_error(426, f"Requested version {version or '(none)'} is not active", "NONEXISTENT_VERSION")
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return _rest_error(400, "X-Restli-Protocol-Version 2.0.0 is required", "INVALID_PROTOCOL_VERSION")
        me = f"urn:li:person:{grant.user['sub']}"
        if request.method == "GET":
            if request.args.get("q") != "author" or request.args.get("author") != me:
                return _rest_error(403, "Not enough permissions to access: partnerApiPostsExternal.FINDER-author",
                                   "ACCESS_DENIED", 100)
            mine = [p for p in reversed(self.posts) if p["author"] == me][: int(request.args.get("count") or 10)]
            return jsonify({"elements": mine, "paging": {"start": 0, "count": len(mine), "links": []}})
        if "w_member_social" not in grant.scope.split():
            return _rest_error(403, "Not enough permissions to access: partnerApiPostsExternal.CREATE.NO_VERSION",
                               "ACCESS_DENIED", 100)
        body = request.get_json(silent=True) or {}
        for field in ("author", "commentary", "visibility", "distribution", "lifecycleState"):
            if field not in body:
                return _rest_error(422, f"/{field} :: field is required but not found and has no default value",
                                   "UNPROCESSABLE_ENTITY", 100)
        if body["author"] != me:
            return _rest_error(403, f"ERROR :: /author :: {body['author']} is not the token's member",
                               "ACCESS_DENIED", 100)
        if body["lifecycleState"] != "PUBLISHED" or body["visibility"] not in ("PUBLIC", "CONNECTIONS"):
            return _rest_error(422, "/lifecycleState or /visibility :: unsupported value", "UNPROCESSABLE_ENTITY")
        article = (body.get("content") or {}).get("article")
        if article is not None and not article.get("source"):
            return _rest_error(422, "/content/article/source :: field is required", "UNPROCESSABLE_ENTITY")
        with self._post_lock:
            urn = f"urn:li:share:{next(self._ids)}"
            self.posts.append({**body, "id": urn})
        response = jsonify({})
        response.status_code = 201
        response.headers["x-restli-id"] = urn
        return response


    def feed_page(self) -> str:
        """Members' posts as a person would see them in the feed (the demo links here)."""
        names = {f"urn:li:person:{u['sub']}": u["name"] for u in self.users}
        posts = [(p["commentary"], " · ".join(filter(None, (
            names.get(p["author"], p["author"]), p["visibility"].lower(),
            ((p.get("content") or {}).get("article") or {}).get("source"), p["id"]))))
            for p in list(self.posts)]
        return posts_page("LinkedIn sandbox: feed", self.colour, [("Feed", posts)])


REFRESH_LIFETIME = 365 * 24 * 3600  # programmatic refresh tokens: one year from the member's consent
VERSION = re.compile(r"20\d{2}(0[1-9]|1[0-2])(\.\d{2})?")


def _rest_error(status: int, message: str, code: str, service_code: int | None = None) -> Any:
    """LinkedIn's REST error body."""
    body: dict[str, Any] = {"status": status, "code": code, "message": message}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    return jsonify(body), status


def create_sandbox() -> LinkedInSandbox:
    return LinkedInSandbox()
