"""A local X: OAuth 2.0 authorize and token (PKCE required, Basic client auth) and GET /2/users/me.

Shapes follow X's docs: tokens with lowercase `bearer` and a 2-hour life (`token_lifetime`, settable),
a refresh token only with offline.access, single use: each redemption answers a new one and the old one is
refused after. Every API route answers 401 for an unknown or expired access token, as X does; `expire`
ages one token past its life. The v2 `{"data": {...}}` envelope, problem-JSON errors, and the
x-rate-limit-* headers. `me_hits` counts /2/users/me calls and `me_agents` keeps their User-Agent,
so tests can see tweepy itself reached the sandbox. Reading (tiles): GET /2/tweets/search/recent,
GET /2/users/by/username/:username and GET /2/users/:id/tweets with since_id, max_results, expansions=author_id
and tweet.fields/user.fields; `timeline` holds other accounts' public posts (seeded for the demo, `add_tweet` for
tests), `reads` records each read's path and query, `read_faults` answers the next reads with canned failures.
`refresh_hits` counts the refresh tokens redeemed, `refresh_refused` the refused ones and `expired_hits`
the 401s for expired access tokens; `refresh_faults` answers the next refresh requests with canned failures (429, 5xx).
Revocation: POST /2/oauth2/revoke (RFC 7009, the user-access-token guide's step 5) with `token` and an optional
`token_type_hint`, the client as at the token endpoint; it answers {"revoked": true} and ends the token named (an
access token then gets 401 everywhere, a refresh token X's invalid-token 400). `revoked` lists (hint, token) of each
revocation; `revoke_faults` answers the next revocations with canned failures (a 500).
Billing: each created post is charged as X's pay-per-use price list says (Content: Create $0.015, with a URL $0.200,
https://docs.x.com/x-api/getting-started/pricing), recorded in `billed`, so tests compare the hub's ledger with it.
"""
from __future__ import annotations

import dataclasses
import re
import secrets
import threading
import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask import Response, jsonify, request

from providers.posting_sandbox import PostingFaults, posts_page
from providers.sandbox_kit import Grant, SandboxIdP

USERS: list[dict[str, Any]] = [
    {"sub": "1427384956271038465", "username": "ada_codes", "name": "Ada Lovelace",
     "email": "ada@partner.example", "verified": False, "created_at": "2021-08-16T21:04:05.000Z",
     "profile_image_url": "https://pbs.twimg.com/profile_images/1427384956271038465/ada_normal.jpg"},
    {"sub": "1427384956271038466", "username": "noor_builds", "name": "Noor Haddad",
     "verified": False, "created_at": "2022-01-03T09:12:44.000Z",  # no confirmed email at X
     "profile_image_url": "https://pbs.twimg.com/profile_images/1427384956271038466/noor_normal.jpg"},
    {"sub": "1427384956271038467", "username": "grace_h", "name": "Grace Hopper",
     "email": "grace@gmail.example", "verified": True, "created_at": "2019-05-30T12:00:00.000Z",
     "profile_image_url": "https://pbs.twimg.com/profile_images/1427384956271038467/grace_normal.jpg"},
]

# The user.fields X documents for /2/users/me; anything else is a 400.
USER_FIELDS = frozenset({
    "affiliation", "confirmed_email", "connection_status", "created_at", "description", "entities", "id",
    "is_identity_verified", "location", "most_recent_tweet_id", "name", "parody", "pinned_tweet_id",
    "profile_banner_url", "profile_image_url", "protected", "public_metrics", "receives_your_dm",
    "subscription", "subscription_type", "url", "username", "verified", "verified_followers_count",
    "verified_type", "withheld",
})
# Public accounts whose posts the reading endpoints serve beside the users' own (not sign-in users).
ACCOUNTS: list[dict[str, Any]] = [
    {"sub": "1500000000000000001", "username": "openedx", "name": "Open edX",
     "profile_image_url": "https://pbs.twimg.com/profile_images/1500000000000000001/openedx_normal.png"},
    {"sub": "1500000000000000002", "username": "moodle", "name": "Moodle",
     "profile_image_url": "https://pbs.twimg.com/profile_images/1500000000000000002/moodle_normal.png"},
]
# (author username, text, created_at): what the demo's X tiles show before anyone posts.
SAMPLE_TWEETS = [
    ("moodle", "Moodle 5.1 is out: a new course index and faster quizzes #learning", "2026-09-01T09:00:00.000Z"),
    ("openedx", "The Open edX conference call for talks closes Friday #learning #edtech", "2026-09-02T10:30:00.000Z"),
    ("openedx", "New in the Open edX catalog: accessible course design, free #learning", "2026-09-03T14:15:00.000Z"),
]
# The tweet.fields and user.fields the reading endpoints accept (a subset of X's lists; others are a 400).
TWEET_FIELDS = frozenset({"attachments", "author_id", "conversation_id", "created_at", "edit_history_tweet_ids",
                          "entities", "id", "lang", "public_metrics", "possibly_sensitive", "referenced_tweets",
                          "reply_settings", "source", "text", "withheld"})
ME_LIMIT = 75  # requests per 15-minute window per user, as X documents for GET /2/users/me
WINDOW = 15 * 60
INVALID_CODE = "Value passed for the authorization code was invalid."


def _token_error(error: str, description: str, status: int) -> tuple[Response, int]:
    """X's token endpoint errors: one opaque message for every bad code, verifier or redirect URI."""
    if error == "invalid_client":
        return jsonify({"error": "unauthorized_client", "error_description": "Missing valid authorization header"}), 401
    if error == "invalid_grant":
        return jsonify({"error": "invalid_request", "error_description": INVALID_CODE}), 400
    return jsonify({"error": error, "error_description": description}), status


def problem(status: int, title: str, detail: str | None = None, type_: str = "about:blank",
            **extra: Any) -> tuple[Response, int]:
    """The v2 API's problem body (RFC 7807), e.g. 401 {"title": "Unauthorized", "type": "about:blank", ...}."""
    body = {"title": title, "type": type_, "status": status, "detail": detail or title, **extra}
    response = jsonify(body)
    response.mimetype = "application/problem+json"
    return response, status


# X's price list for creating a post (the Developer Console's, not the hub's constants: the two are compared in tests).
CONTENT_CREATE = Decimal("0.015")
CONTENT_CREATE_WITH_URL = Decimal("0.200")
URL = re.compile(r"https?://|www\.", re.IGNORECASE)

class XSandbox(SandboxIdP):
    """SandboxIdP plus X's v2 user lookup, rate limits and refresh tokens."""
    # The page people read (the demo LMS links it): path under /sandbox/<kind>, network, what it shows.
    posts_view = ("/posts", "X", "Everyone's posts")

    def __init__(self) -> None:
        super().__init__(
            "x", title="X", colour="#000000", users=USERS,
            authorize_path="/i/oauth2/authorize",
            token_path="/2/oauth2/token",
            id_tokens=False,  # plain OAuth 2.0: no OpenID Connect at X
            pkce="required",
            auth_methods=("client_secret_basic",),  # confidential clients: Basic only
            token_lifetime=7200,
            error_body=_token_error,
        )
        self.me_hits = 0
        self.me_agents: list[str] = []
        self.me_limit = ME_LIMIT
        self.refresh_tokens: dict[str, Grant] = {}
        self.refresh_hits = 0
        self.refresh_refused = 0
        self.refresh_faults = PostingFaults()
        self.expired_hits = 0  # API calls answered 401 because the access token had expired
        self.revoked: list[tuple[str, str]] = []  # (token_type_hint, token) of each revocation, in order
        self.revoke_faults = PostingFaults()
        self.blueprint.add_url_rule("/2/oauth2/revoke", "revoke", self.revoke, methods=["POST"])
        self._windows: dict[str, tuple[float, int]] = {}  # user id -> (window start, requests)
        self._me_lock = threading.Lock()
        self.blueprint.add_url_rule("/2/users/me", "users_me", self.users_me)
        self.tweets: list[dict[str, Any]] = []
        self.billed: list[tuple[str, Decimal]] = []  # (tweet id, what X's pay-per-use charged for creating it)
        self.posting_faults = PostingFaults()
        self._next_id = 1862000000000000001
        self.blueprint.add_url_rule("/2/tweets", "create_tweet", self.create_tweet, methods=["POST"])
        self.blueprint.add_url_rule("/2/users/<user_id>/tweets", "users_tweets", self.users_tweets)
        self.blueprint.add_url_rule("/posts", "posts", self.posts_page)
        # Reading, for tiles: other accounts' posts, the search, the username lookup; what each read asked for.
        self.accounts = [*USERS, *ACCOUNTS]
        self.timeline: list[dict[str, Any]] = []
        self.reads: list[tuple[str, dict[str, str]]] = []
        self.read_faults = PostingFaults()
        self._timeline_id = 1861000000000000001  # below posted ids: the seeded posts are older
        for username, text, created_at in SAMPLE_TWEETS:
            self.add_tweet(username, text, created_at)
        self.blueprint.add_url_rule("/2/tweets/search/recent", "search_recent", self.search_recent)
        self.blueprint.add_url_rule("/2/users/by/username/<username>", "user_by_username", self.user_by_username)

    def authorize(self) -> Any:
        # The kit checks code_challenge_method; X also refuses a request with no code_challenge.
        client = self.clients.get(request.values.get("client_id", ""))
        redirect_uri = request.values.get("redirect_uri")
        if client and redirect_uri in client["redirect_uris"] and not request.values.get("code_challenge"):
            return self._back(redirect_uri, request.values.to_dict(), error="invalid_request",
                              error_description="Missing required parameter [code_challenge].")
        return super().authorize()

    def token(self) -> Any:
        if request.form.get("grant_type") == "refresh_token":
            return self.refresh()
        return super().token()

    def token_response(self, grant: Grant, access_token: str) -> dict[str, Any]:
        body = {"token_type": "bearer", "expires_in": self.token_lifetime, "access_token": access_token,
                "scope": grant.scope}
        if "offline.access" in grant.scope.split():
            refresh_token = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh_token] = grant
            body["refresh_token"] = refresh_token
        return body

    def refresh(self) -> Any:
        """Refresh tokens rotate: each one works once, and the answer carries the next one."""
        canned = self.refresh_faults.pop()
        if canned:
            return canned
        if self.faults.token_delay:  # a slow token endpoint: racing workers overlap
            time.sleep(self.faults.token_delay)
        client_id = self.authenticate_client()
        if client_id is None:
            return _token_error("invalid_client", "", 401)
        with self._lock:
            grant = self.refresh_tokens.pop(request.form.get("refresh_token", ""), None)
            if grant is not None and grant.client_id == client_id:
                self.refresh_hits += 1
            else:
                self.refresh_refused, grant = self.refresh_refused + 1, None
        if grant is None:
            # X's words for a refresh token that is unknown, already used or another app's.
            return jsonify({"error": "invalid_request",
                            "error_description": "Value passed for the token was invalid."}), 400
        fresh = Grant(grant.client_id, grant.redirect_uri, grant.user, grant.scope, None, None)
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = fresh
        return jsonify(self.token_response(fresh, access_token))

    def revoke(self) -> Any:
        """RFC 7009: the named token ends; an unknown one is answered the same (2.2), so nothing leaks."""
        canned = self.revoke_faults.pop()
        if canned:
            return canned
        client_id = self.authenticate_client()
        if client_id is None:
            return _token_error("invalid_client", "", 401)
        token, hint = request.form.get("token", ""), request.form.get("token_type_hint", "")
        if not token:
            return jsonify({"error": "invalid_request",
                            "error_description": "Missing required parameter [token]."}), 400
        with self._lock:
            for store in (self.tokens, self.refresh_tokens):
                grant = store.get(token)
                if grant is not None and grant.client_id == client_id:
                    del store[token]
            self.revoked.append((hint, token))
        return jsonify({"revoked": True})

    # --- set-up for tests and the demo ------------------------------------------------------
    def issue_tokens(self, client_id: str, sub: str,
                     scope: str = "tweet.read tweet.write users.read offline.access") -> dict[str, Any]:
        """The token answer of a sandbox user who connected the account (a refresh token with offline.access)."""
        user = next(u for u in self.users if u["sub"] == sub)
        grant = Grant(client_id, None, user, scope, None, None)
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = grant
        return self.token_response(grant, access_token)

    def expire(self, access_token: str) -> None:
        """Age one access token past its lifetime: from now on X answers 401 to it."""
        with self._lock:
            grant = self.tokens[access_token]
            self.tokens[access_token] = dataclasses.replace(grant, issued_at=time.time() - self.token_lifetime - 1)

    def live_grant(self) -> Grant | None:
        """The bearer token's grant, or None when it is unknown or expired (X answers 401 to both)."""
        grant = self.bearer_grant()
        if grant is not None and time.time() - grant.issued_at > self.token_lifetime:
            with self._lock:
                self.expired_hits += 1
            return None
        return grant

    def users_me(self) -> Any:
        """GET /2/users/me: the token's user in the v2 envelope, only the fields asked for and granted."""
        self.me_hits += 1
        self.me_agents.append(request.headers.get("User-Agent", ""))
        grant = self.live_grant()
        if grant is None:
            return problem(401, "Unauthorized")
        scopes = set(grant.scope.split())
        if not {"users.read", "tweet.read"} <= scopes:
            return problem(403, "Forbidden", "You are not permitted to perform this action.",
                           type_="https://api.twitter.com/2/problems/not-authorized-for-resource")
        requested = [f for f in request.args.get("user.fields", "").split(",") if f]
        unknown = [f for f in requested if f not in USER_FIELDS]
        if unknown:
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                           type_="https://api.twitter.com/2/problems/invalid-request",
                           errors=[{"parameters": {"user.fields": unknown},
                                    "message": f"The `user.fields` query parameter value [{unknown[0]}] is not one of "
                                               f"[{','.join(sorted(USER_FIELDS))}]"}])
        headers = self._rate_headers(grant.user["sub"])
        if headers["x-rate-limit-remaining"] == "-1":
            headers["x-rate-limit-remaining"] = "0"
            body, status = problem(429, "Too Many Requests")
            body.headers.update(headers)
            return body, status
        data = self.user_data(grant.user, requested, scopes)
        if self.faults.userinfo:
            data = self.faults.userinfo(data)
        response = jsonify({"data": data})
        response.headers.update(headers)
        return response

    def user_data(self, user: Mapping[str, Any], requested: list[str], scopes: set[str]) -> dict[str, Any]:
        """id, name and username always; other fields when asked for; confirmed_email only with users.email."""
        data = {"id": user["sub"], "name": user["name"], "username": user["username"]}
        for name in requested:
            if name == "confirmed_email":
                if "users.email" in scopes and user.get("email"):
                    data["confirmed_email"] = user["email"]
            elif name in user and name not in data:
                data[name] = user[name]
        return data

    def _rate_headers(self, user_id: str) -> dict[str, str]:
        """Count one request in the user's 15-minute window; remaining -1 means over the limit."""
        now = time.time()
        with self._me_lock:
            start, used = self._windows.get(user_id, (now, 0))
            if now - start >= WINDOW:
                start, used = now, 0
            used += 1
            self._windows[user_id] = (start, used)
        remaining = self.me_limit - used
        return {"x-rate-limit-limit": str(self.me_limit), "x-rate-limit-remaining": str(max(remaining, -1)),
                "x-rate-limit-reset": str(int(start + WINDOW))}

    # --- posting ----------------------------------------------------------------------------
    def create_tweet(self) -> Any:
        """POST /2/tweets: 201 {"data": {"id", "text"}}; tweet.write needed; duplicates refused (403)."""
        canned = self.posting_faults.pop()
        if canned:
            return canned
        grant = self.live_grant()
        if grant is None:
            return problem(401, "Unauthorized")
        if not {"tweet.write", "tweet.read", "users.read"} <= set(grant.scope.split()):
            return problem(403, "Forbidden", "You are not permitted to perform this action.",
                           type_="https://api.twitter.com/2/problems/not-authorized-for-resource")
        body = request.get_json(silent=True) or {}
        text = body.get("text")
        if not isinstance(text, str) or not text.strip():
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                           type_="https://api.twitter.com/2/problems/invalid-request",
                           errors=[{"message": "$.text: is missing but it is required"}])
        if len(text) > 280 + 200:  # links count as 23 whatever their length; a rough ceiling is enough here
            return problem(400, "Invalid Request", "Your Tweet text is too long.")
        author = grant.user["sub"]
        with self._me_lock:
            if any(t["author_id"] == author and t["text"] == text for t in self.tweets):
                return problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content.",
                               type_="about:blank")
            tweet_id = str(self._next_id)
            self._next_id += 1
            self.tweets.append({"id": tweet_id, "text": text, "author_id": author,
                                "edit_history_tweet_ids": [tweet_id], "created_at": _now_iso()})
            self.billed.append((tweet_id, CONTENT_CREATE_WITH_URL if URL.search(text) else CONTENT_CREATE))
        return jsonify({"data": {"id": tweet_id, "text": text, "edit_history_tweet_ids": [tweet_id]}}), 201

    def posts_page(self) -> str:
        """Everyone's posts, oldest first (the demo links here)."""
        handles = {u["sub"]: f"@{u['username']}" for u in self.users}
        posts = [(t["text"], f"{handles.get(t['author_id'], t['author_id'])} · {t['id']}") for t in list(self.tweets)]
        return posts_page("X sandbox: posts", "#000000", [("Posts", posts)])

    def users_tweets(self, user_id: str) -> Any:
        """GET /2/users/:id/tweets, newest first, max_results 5..100, since_id exclusive."""
        canned = self.posting_faults.pop() or self.read_faults.pop()
        if canned:
            return canned
        return self._read(5, lambda tweet: tweet["author_id"] == user_id)

    # --- reading (tiles) ----------------------------------------------------------------------
    def add_tweet(self, username: str, text: str, created_at: str | None = None) -> str:
        """A public post by one of the sandbox's accounts (not through the API); returns its id."""
        author = next(a for a in self.accounts if a["username"].lower() == username.lower())
        with self._me_lock:
            tweet_id = str(self._timeline_id)
            self._timeline_id += 1
            self.timeline.append({"id": tweet_id, "text": text, "author_id": author["sub"],
                                  "edit_history_tweet_ids": [tweet_id], "created_at": created_at or _now_iso()})
        return tweet_id

    def search_recent(self) -> Any:
        """GET /2/tweets/search/recent: every word of `query` (from:name, -word, #tag), max_results 10..100."""
        canned = self.read_faults.pop()
        if canned:
            return canned
        query = request.args.get("query", "")
        if not query.strip() or len(query) > 512:
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.",
                           type_="https://api.twitter.com/2/problems/invalid-request",
                           errors=[{"parameters": {"query": [query]}, "message": "Invalid query"}])
        return self._read(10, _matcher(query, self.accounts))

    def user_by_username(self, username: str) -> Any:
        """GET /2/users/by/username/:username: 200 with `errors` (no `data`) for an unknown name, as X answers."""
        canned = self.read_faults.pop()
        if canned:
            return canned
        self.reads.append((request.path, request.args.to_dict()))
        grant = self.live_grant()
        if grant is None:
            return problem(401, "Unauthorized")
        found = next((a for a in self.accounts if a["username"].lower() == username.lower()), None)
        if found is None:
            return jsonify({"errors": [{
                "value": username, "detail": f"Could not find user with username: [{username}].",
                "title": "Not Found Error", "resource_type": "user", "parameter": "username", "resource_id": username,
                "type": "https://api.twitter.com/2/problems/resource-not-found"}]})
        fields = [f for f in request.args.get("user.fields", "").split(",") if f]
        return jsonify({"data": self.user_data(found, fields, set())})

    def _read(self, minimum: int, wanted: Any) -> Any:
        """The reading endpoints' shared part: token, max_results, since_id, fields, expansions, meta."""
        self.reads.append((request.path, request.args.to_dict()))
        grant = self.live_grant()
        if grant is None:
            return problem(401, "Unauthorized")
        if not {"tweet.read", "users.read"} <= set(grant.scope.split()):
            return problem(403, "Forbidden", "You are not permitted to perform this action.",
                           type_="https://api.twitter.com/2/problems/not-authorized-for-resource")
        limit = int(request.args.get("max_results") or 10)
        if not minimum <= limit <= 100:
            return problem(400, "Invalid Request",
                           f"The `max_results` query parameter value [{limit}] is not between {minimum} and 100")
        fields = [f for f in request.args.get("tweet.fields", "").split(",") if f]
        if any(f not in TWEET_FIELDS for f in fields):
            return problem(400, "Invalid Request", "One or more parameters to your request was invalid.")
        since = int(request.args.get("since_id") or 0)
        every = sorted([*self.timeline, *self.tweets], key=lambda t: int(t["id"]), reverse=True)
        found = [t for t in every if int(t["id"]) > since and wanted(t)][:limit]
        if not found:
            return jsonify({"meta": {"result_count": 0}})
        shown = {"id", "text", "edit_history_tweet_ids", *fields}
        body: dict[str, Any] = {"data": [{k: v for k, v in t.items() if k in shown} for t in found],
                                "meta": {"result_count": len(found), "newest_id": found[0]["id"],
                                         "oldest_id": found[-1]["id"]}}
        if "author_id" in request.args.get("expansions", "").split(","):
            user_fields = [f for f in request.args.get("user.fields", "").split(",") if f]
            authors = {t["author_id"] for t in found}
            body["includes"] = {"users": [self.user_data(a, user_fields, set())
                                          for a in self.accounts if a["sub"] in authors]}
        return jsonify(body)


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def _matcher(query: str, accounts: list[dict[str, Any]]) -> Any:
    """A small slice of X's query language: words (all must appear), from:username, -word."""
    names = {a["sub"]: a["username"].lower() for a in accounts}
    terms = query.lower().split()

    def wanted(tweet: dict[str, Any]) -> bool:
        text = tweet["text"].lower()
        for term in terms:
            if term.startswith("from:"):
                if names.get(tweet["author_id"]) != term[5:]:
                    return False
            elif term.startswith("-") and len(term) > 1:
                if term[1:] in text:
                    return False
            elif term not in text:
                return False
        return True
    return wanted


def create_sandbox() -> XSandbox:
    return XSandbox()
