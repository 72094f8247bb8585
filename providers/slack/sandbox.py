"""A local Slack: Sign in with Slack on its documented paths, with Slack's `ok` envelopes.

Slack's Web API methods (openid.connect.token, openid.connect.userInfo) answer errors
with HTTP 200 and {"ok": false, "error": "invalid_code"}; the authorize page is HTML.
Reading (tiles): conversations.history with oldest/latest/inclusive, conversations.info (is_private,
is_archived), users.info and auth.test; #learning starts with a few sample messages, `post_as` adds a
person's message for tests, `reads` records each read method and its arguments. `history_limit` (opt-in) enforces
Slack's limit for non-Marketplace apps: one conversations.history call a minute per workspace, 15 messages at most.
Revocation: auth.revoke ends the token it is called with (`revoked` lists them; `test=1` revokes nothing), and
from then on every method answers that token `token_revoked`; `revoke_faults` answers the next calls with canned
failures (a 500).
"""
from __future__ import annotations

import itertools
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Response, jsonify, render_template_string, request

from providers.posting_sandbox import PostingFaults
from providers.sandbox_kit import PICKER, Grant, SandboxIdP

T_PARTNER, T_OTHER = "T0PARTNER1", "T0OTHERWS2"
USERS = [
    {"sub": "U0PARTNER01", "https://slack.com/user_id": "U0PARTNER01", "https://slack.com/team_id": T_PARTNER,
     "https://slack.com/team_name": "Partner Co", "https://slack.com/team_domain": "partnerco",
     "email": "sam@partner.example", "email_verified": True, "name": "Sam Slack", "given_name": "Sam",
     "family_name": "Slack", "locale": "en-US", "picture": "https://secure.gravatar.com/avatar/sam.png",
     "https://slack.com/user_image_192": "https://secure.gravatar.com/avatar/sam-192.png"},
    {"sub": "U0OTHER0002", "https://slack.com/user_id": "U0OTHER0002", "https://slack.com/team_id": T_OTHER,
     "https://slack.com/team_name": "Other Workspace", "https://slack.com/team_domain": "otherws",
     "email": "olga@other.example", "email_verified": True, "name": "Olga Other", "given_name": "Olga",
     "family_name": "Other", "locale": "en-US", "picture": "https://secure.gravatar.com/avatar/olga.png"},
]

# RFC 6749 errors raised by the kit, in the words openid.connect.token uses.
SLACK_ERRORS = {
    "invalid_client": "bad_client_secret",
    "invalid_grant": "invalid_code",
    "unsupported_grant_type": "invalid_grant_type",
    "invalid_token": "invalid_auth",
}


@dataclass
class ChannelLimit:
    """Slack's per-channel limit on chat.postMessage as a token bucket: opt-in (`sandbox.channel_limit`).

    https://docs.slack.dev/apis/web-api/rate-limits: chat.postMessage "generally allows an app to post 1 message
    per second to a specific channel", with short bursts above that; beyond it Slack answers HTTP 429 with a
    Retry-After header in whole seconds. `burst` is the bucket's size (Slack does not publish its own).
    """

    per_second: float = 1.0
    burst: float = 1.0
    admitted: dict[str, list[float]] = field(default_factory=dict)  # channel id -> monotonic times let through
    refused: dict[str, int] = field(default_factory=dict)  # channel id -> 429s answered
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # channel id -> (tokens, at)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, channel: str, now: float | None = None) -> float:
        """0.0 and a token taken if the channel may post now, else the seconds until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, at = self._buckets.get(channel, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.per_second)
            if tokens >= 1:
                self._buckets[channel] = (tokens - 1, now)
                self.admitted.setdefault(channel, []).append(now)
                return 0.0
            self._buckets[channel] = (tokens, now)
            self.refused[channel] = self.refused.get(channel, 0) + 1
            return (1 - tokens) / self.per_second


@dataclass
class HistoryLimit:
    """Slack's 2025 limit on conversations.history for a commercially distributed app outside the Marketplace:
    opt-in (`sandbox.history_limit = HistoryLimit()`), for the hub's app configured slack_app=non-marketplace.

    https://docs.slack.dev/reference/methods/conversations.history: "rate limited to 1 request per minute. The maximum
    and default values for the limit parameter have both been reduced to 15 objects"; limits apply per method per
    workspace per app (https://docs.slack.dev/apis/web-api/rate-limits). A second call within the minute is answered
    HTTP 429 `ratelimited` with Retry-After; a larger `limit` is cut to 15 (and recorded in `oversized`). `clock`
    (seconds) is injectable so a test can follow the hub's clock instead of sleeping.
    """

    per_seconds: float = 60.0
    max_items: int = 15
    clock: Callable[[], float] = time.time
    admitted: dict[str, list[float]] = field(default_factory=dict)  # team -> times let through
    refused: dict[str, int] = field(default_factory=dict)  # team -> 429s answered
    oversized: list[int] = field(default_factory=list)  # `limit` values asked above max_items
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def admit(self, team: str) -> float:
        """0.0 if the workspace's app may read history now (the call is counted), else the seconds until it may."""
        with self._lock:
            now = self.clock()
            calls = self.admitted.setdefault(team, [])
            if calls and now - calls[-1] < self.per_seconds:
                self.refused[team] = self.refused.get(team, 0) + 1
                return self.per_seconds - (now - calls[-1])
            calls.append(now)
            return 0.0


def _slack_error(error: str, description: str, status: int) -> tuple[Response, int]:
    """Web API methods: HTTP 200 with ok:false; the authorize page keeps an HTTP error."""
    if request.path.endswith("/openid/connect/authorize"):
        return jsonify({"error": error, "error_description": description}), status
    if error == "invalid_grant" and "redirect_uri" in description:
        code = "bad_redirect_uri"
    else:
        code = SLACK_ERRORS.get(error, error)
    return jsonify({"ok": False, "error": code}), 200


class SlackSandbox(SandboxIdP):
    """The kit, wrapped in Slack's `ok` envelopes and without PKCE in discovery."""
    # The page people read (the demo LMS links it): path under /sandbox/<kind>, network, what it shows.
    posts_view = ("/posts", "Slack", "#wins and the workspace's other channels")

    def __init__(self) -> None:
        super().__init__(
            "slack", title="Slack", colour="#4a154b", users=USERS,
            discovery_path="/.well-known/openid-configuration",
            authorize_path="/openid/connect/authorize",
            token_path="/api/openid.connect.token",
            userinfo_path="/api/openid.connect.userInfo",
            jwks_path="/openid/connect/keys",
            error_body=_slack_error,
        )
        self.bots: dict[str, str] = {}  # bot token -> team id
        self.install_codes: dict[str, Grant] = {}  # app-install codes, apart from sign-in codes
        self.hooks: dict[str, tuple[str, str]] = {}  # hook path -> (team id, channel id)
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages, oldest first
        # Channels per workspace: (id, name, bot is a member); add_channel makes more.
        self.channels: dict[str, list[tuple[str, str, bool]]] = {team: list(found) for team, found in CHANNELS.items()}
        self.private: set[str] = set(PRIVATE)  # channel ids that are private channels
        self.archived: set[str] = set()
        self.reads: list[tuple[str, dict[str, Any]]] = []  # (method, arguments) of every read, for tests
        self.channel_limit: ChannelLimit | None = None  # None: no per-channel limit (what tests expect)
        self.history_limit: HistoryLimit | None = None  # None: an internal or Marketplace app (no 2025 history limit)
        self.posting_faults = PostingFaults()
        self.revoked: list[str] = []  # tokens auth.revoke ended, in order
        self.revoke_faults = PostingFaults()
        self._ts = itertools.count(1)
        self._post_lock = threading.Lock()
        _slack_posting_routes(self)
        for channel, user, text, ts in SAMPLE_MESSAGES:
            self.messages.setdefault(channel, []).append({"type": "message", "ts": ts, "user": user, "text": text,
                                                          "team": T_PARTNER})

    def discovery_document(self) -> dict[str, Any]:
        document = super().discovery_document()
        document.pop("code_challenge_methods_supported", None)  # Slack advertises no PKCE
        document["response_modes_supported"] = ["form_post"]
        document["grant_types_supported"] = ["authorization_code"]
        return document

    def token_response(self, grant: Grant, access_token: str) -> dict[str, Any]:
        body = super().token_response(grant, access_token)
        body.pop("scope", None)
        body.pop("expires_in", None)  # without token rotation Slack's user tokens do not expire
        return {"ok": True, **body}

    def userinfo(self) -> Any:
        answer = super().userinfo()
        if isinstance(answer, Response) and answer.is_json:
            return jsonify({"ok": True, **answer.get_json()})
        return answer

    def id_claims(self, grant: Grant) -> dict[str, Any]:
        claims = super().id_claims(grant)
        claims["auth_time"] = claims["iat"]
        return claims

    # --- the app install: https://docs.slack.dev/reference/methods/oauth.v2.access -------------
    def install_authorize(self) -> Any:
        """/oauth/v2/authorize: pick a user; the app is installed in that user's workspace."""
        params = request.values.to_dict()
        params.pop("user", None)
        params.pop("decision", None)
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri")
        if client is None:
            return self._fail("invalid_client_id", 400)
        if client["redirect_uris"] and redirect_uri not in client["redirect_uris"]:
            return self._fail("bad_redirect_uri", 400)
        if not params.get("scope"):
            return self._fail("invalid_scope", 400)
        if request.method == "GET":
            return render_template_string(PICKER, title=self.title, colour=self.colour, users=self.users,
                                          params=params, client_id=params["client_id"], scope=params["scope"])
        if request.form.get("decision") != "allow":
            return self._back(redirect_uri, params, error="access_denied")
        user = next((u for u in self.users if u["sub"] == request.form.get("user")), None)
        if user is None:
            return self._fail("invalid_user", 400)
        code = secrets.token_urlsafe(24)
        self.install_codes[code] = Grant(params["client_id"], redirect_uri, user, params["scope"], None, None)
        return self._back(redirect_uri, params, code=code)

    def oauth_v2_access(self) -> Any:
        """Exchange an install code for the bot token; Slack's errors come as HTTP 200 with ok:false."""
        client_id = self.authenticate_client()
        if client_id is None:
            return self._fail("invalid_client_id")
        with self._lock:
            grant = self.install_codes.pop(request.form.get("code", ""), None)
        if grant is None or grant.client_id != client_id or time.time() - grant.issued_at > 600:
            return self._fail("invalid_code")
        if grant.redirect_uri and request.form.get("redirect_uri") != grant.redirect_uri:
            return self._fail("bad_redirect_uri")
        team = str(grant.user["https://slack.com/team_id"])
        return jsonify({
            "ok": True, "access_token": self.install_bot(team), "token_type": "bot", "scope": grant.scope,
            "bot_user_id": "U0HUBBOT001", "app_id": "A0HUBAPP001",
            "team": {"name": grant.user.get("https://slack.com/team_name"), "id": team}, "enterprise": None,
            "authed_user": {"id": grant.user["sub"]}, "is_enterprise_install": False,
        })

    # --- posting --------------------------------------------------------------------------
    def install_bot(self, team: str = T_PARTNER, token: str | None = None) -> str:
        """A bot token as oauth.v2.access would issue for the hub's app installed in `team` (or this one)."""
        token = token or "xoxb-" + secrets.token_hex(12)
        self.bots[token] = team
        return token

    def add_channel(self, name: str, team: str = T_PARTNER, member: bool = True, private: bool = False) -> str:
        """A new channel in `team` (the bot a member unless told otherwise); returns its id."""
        with self._post_lock:
            found = self.channels.setdefault(team, [])
            channel_id = f"C1{len(found):09d}"
            found.append((channel_id, name, member))
            if private:
                self.private.add(channel_id)
        return channel_id

    def post_as(self, channel: str, text: str, user: str = "U0PARTNER01", team: str = T_PARTNER) -> str:
        """A message a person wrote in a channel (not through the API); returns its ts."""
        channel_id = self._find_channel(team, channel)[0]
        with self._post_lock:
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self.messages.setdefault(channel_id, []).append({"type": "message", "ts": ts, "user": user,
                                                             "text": text, "team": team})
        return ts

    def hook_path(self, channel: str, team: str = T_PARTNER) -> str:
        """An incoming webhook for a channel; its URL is the sandbox base followed by this path."""
        path = f"/services/{team}/B0{secrets.token_hex(4).upper()}/{secrets.token_urlsafe(18)}"
        self.hooks[path] = (team, self._find_channel(team, channel)[0])
        return path

    def channel_posts(self, name: str, team: str = T_PARTNER) -> list[dict[str, Any]]:
        return list(self.messages.get(self._find_channel(team, name)[0], []))

    def _find_channel(self, team: str, channel: str) -> tuple[str, str, bool]:
        key = channel.lstrip("#")
        found = next((c for c in self.channels.get(team, []) if key in (c[0], c[1])), None)
        if found is None:
            raise KeyError(channel)
        return found

    @staticmethod
    def _presented_token() -> str:
        header = request.headers.get("Authorization", "")
        return header[len("Bearer "):] if header.startswith("Bearer ") else request.values.get("token", "")

    def _bot_team(self) -> str | None:
        return self.bots.get(self._presented_token())

    def _auth_error(self) -> str:
        """Slack's word for a token it will not take: `token_revoked` once auth.revoke ended it."""
        token = self._presented_token()
        if not token:
            return "not_authed"
        return "token_revoked" if token in self.revoked else "invalid_auth"

    def auth_revoke(self) -> Any:
        """auth.revoke (https://docs.slack.dev/reference/methods/auth.revoke): {"ok": true, "revoked": true}."""
        canned = self.revoke_faults.pop()
        if canned:
            return canned
        token = self._presented_token()
        known = token in self.bots or token in self.tokens
        if not known:
            return self._fail(self._auth_error())
        if str(request.values.get("test", "")).lower() in {"1", "true"}:
            return jsonify({"ok": True, "revoked": False})
        with self._post_lock:
            self.bots.pop(token, None)
            self.tokens.pop(token, None)
            self.revoked.append(token)
        return jsonify({"ok": True, "revoked": True})

    @staticmethod
    def _args() -> dict[str, Any]:
        return dict(request.get_json(silent=True) or {}) | request.values.to_dict()

    @staticmethod
    def _fail(code: str, status: int = 200) -> tuple[Response, int]:
        return jsonify({"ok": False, "error": code}), status

    def _store(self, channel: str, args: dict[str, Any], bot: bool = True) -> dict[str, Any]:
        with self._post_lock:
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            message = {"type": "message", "ts": ts, "text": args.get("text", ""), "blocks": args.get("blocks") or []}
            if bot:
                message |= {"bot_id": "B0HUBBOT001", "user": "U0HUBBOT001"}
            if args.get("metadata"):
                message["metadata"] = args["metadata"]
            self.messages.setdefault(channel, []).append(message)
        return message

    def post_message(self) -> Any:
        """chat.postMessage: the checks Slack makes, in its `ok: false` words."""
        canned = self.posting_faults.pop()
        if canned:
            return canned
        team = self._bot_team()
        if team is None:
            return self._fail(self._auth_error())
        args = self._args()
        for name in ("blocks", "metadata"):
            if isinstance(args.get(name), str):  # form-encoded calls send them as JSON strings
                try:
                    args[name] = json.loads(args[name])
                except ValueError:
                    return self._fail("invalid_blocks" if name == "blocks" else "invalid_metadata_format")
        try:
            channel_id, _, member = self._find_channel(team, str(args.get("channel") or ""))
        except KeyError:
            return self._fail("channel_not_found")
        if not member:
            return self._fail("not_in_channel")
        wait = self.channel_limit.admit(channel_id) if self.channel_limit else 0.0
        if wait > 0:
            return jsonify({"ok": False, "error": "ratelimited"}), 429, {"Retry-After": str(max(1, math.ceil(wait)))}
        if not args.get("text") and not args.get("blocks"):
            return self._fail("no_text")
        blocks = args.get("blocks") or []
        if not isinstance(blocks, list) or any(not isinstance(b, dict) or "type" not in b for b in blocks):
            return self._fail("invalid_blocks")
        metadata = args.get("metadata")
        if metadata is not None and not (isinstance(metadata, dict) and metadata.get("event_type")
                                         and isinstance(metadata.get("event_payload"), dict)):
            return self._fail("invalid_metadata_format")
        message = self._store(channel_id, args)
        return jsonify({"ok": True, "channel": channel_id, "ts": message["ts"], "message": message})

    def conversations_history(self) -> Any:
        """Newest first; metadata only with include_all_metadata, as Slack does."""
        canned = self.posting_faults.pop()
        if canned:
            return canned
        team = self._bot_team()
        if team is None:
            return self._fail(self._auth_error())
        args = self._args()
        self.reads.append(("conversations.history", args))
        channel = str(args.get("channel") or "")
        found = next((c for c in self.channels.get(team, []) if c[0] == channel), None)
        if found is None:
            return self._fail("channel_not_found")  # names are not accepted here: ids only
        if not found[2]:
            return self._fail("not_in_channel")
        limit = min(int(args.get("limit") or 100), 999)
        if self.history_limit is not None:
            wait = self.history_limit.admit(team)
            if wait > 0:
                retry = str(max(1, math.ceil(wait)))
                return jsonify({"ok": False, "error": "ratelimited"}), 429, {"Retry-After": retry}
            if limit > self.history_limit.max_items:
                self.history_limit.oversized.append(limit)
            limit = min(int(args.get("limit") or self.history_limit.max_items), self.history_limit.max_items)
        start = int(args.get("cursor") or 0)
        newest_first = [m for m in reversed(self.messages.get(channel, [])) if _in_range(m["ts"], args)]
        page = newest_first[start:start + limit]
        with_metadata = str(args.get("include_all_metadata")).lower() in {"1", "true"}
        messages = [m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in page]
        more = start + limit < len(newest_first)
        return jsonify({"ok": True, "messages": messages, "has_more": more,
                        "response_metadata": {"next_cursor": str(start + limit) if more else ""}})

    def conversations_list(self) -> Any:
        team = self._bot_team()
        if team is None:
            return self._fail(self._auth_error())
        self.reads.append(("conversations.list", self._args()))
        types = set(str(self._args().get("types") or "public_channel").split(","))
        channels = [self._channel_object(c) for c in self.channels.get(team, [])]
        channels = [c for c in channels if ("private_channel" if c["is_private"] else "public_channel") in types]
        if str(self._args().get("exclude_archived")).lower() in {"1", "true"}:
            channels = [c for c in channels if not c["is_archived"]]
        return jsonify({"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}})

    def _channel_object(self, channel: tuple[str, str, bool]) -> dict[str, Any]:
        channel_id, name, member = channel
        private = channel_id in self.private
        return {"id": channel_id, "name": name, "is_member": member, "is_channel": not private,
                "is_group": private, "is_private": private, "is_archived": channel_id in self.archived,
                "created": 1700000000}

    def conversations_info(self) -> Any:
        """conversations.info: a channel the bot can see (a private one only if it is a member)."""
        team = self._bot_team()
        if team is None:
            return self._fail(self._auth_error())
        args = self._args()
        self.reads.append(("conversations.info", args))
        found = next((c for c in self.channels.get(team, []) if c[0] == str(args.get("channel") or "")), None)
        if found is None or (found[0] in self.private and not found[2]):
            return self._fail("channel_not_found")
        return jsonify({"ok": True, "channel": self._channel_object(found)})

    def users_info(self) -> Any:
        """users.info: a member of the bot's workspace, with the profile images Slack serves."""
        team = self._bot_team()
        if team is None:
            return self._fail(self._auth_error())
        args = self._args()
        self.reads.append(("users.info", args))
        user = next((u for u in USERS if u["sub"] == args.get("user") and u["https://slack.com/team_id"] == team),
                    None)
        if user is None:
            return self._fail("user_not_found")
        picture = user.get("picture")
        return jsonify({"ok": True, "user": {
            "id": user["sub"], "team_id": team, "name": str(user["email"]).split("@")[0], "deleted": False,
            "real_name": user["name"], "is_bot": False,
            "profile": {"real_name": user["name"], "display_name": user.get("given_name", ""),
                        "image_48": picture, "image_72": picture, "image_192": picture}}})

    def auth_test(self) -> Any:
        """auth.test: who the token is and the workspace URL (permalinks are built on it)."""
        team = self._bot_team()
        if team is None:
            return self._fail(self._auth_error())
        self.reads.append(("auth.test", {}))
        user = next(u for u in USERS if u["https://slack.com/team_id"] == team)
        return jsonify({"ok": True, "url": f"https://{user['https://slack.com/team_domain']}.slack.com/",
                        "team": user["https://slack.com/team_name"], "user": "hub", "team_id": team,
                        "user_id": "U0HUBBOT001", "bot_id": "B0HUBBOT001", "is_enterprise_install": False})

    def get_permalink(self) -> Any:
        team = self._bot_team()
        if team is None:
            return self._fail(self._auth_error())
        args = self._args()
        channel, ts = str(args.get("channel") or ""), str(args.get("message_ts") or "")
        if not any(m["ts"] == ts for m in self.messages.get(channel, [])):
            return self._fail("message_not_found")
        domain = next(u["https://slack.com/team_domain"] for u in USERS if u["https://slack.com/team_id"] == team)
        return jsonify({"ok": True, "channel": channel,
                        "permalink": f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"})

    def incoming_webhook(self, team: str, bot: str, secret: str) -> Any:
        """Incoming webhooks answer plain text: "ok", or an error word with an HTTP status."""
        canned = self.posting_faults.pop()
        if canned:
            return canned
        hook = self.hooks.get(f"/services/{team}/{bot}/{secret}")
        if hook is None:
            return Response("no_service", status=404, mimetype="text/html")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return Response("invalid_payload", status=400, mimetype="text/html")
        if not body.get("text") and not body.get("blocks"):
            return Response("no_text", status=400, mimetype="text/html")
        self._store(hook[1], body)
        return Response("ok", status=200, mimetype="text/html")

    def posts_page(self) -> str:
        """Every channel's posts, newest last: what the demo shows after a share."""
        channels = [(name, self.messages.get(cid, [])) for team in self.channels
                    for cid, name, _ in self.channels[team]]
        return render_template_string(POSTS_PAGE, channels=channels)


def create_sandbox() -> SlackSandbox:
    return SlackSandbox()


# --- posting: the workspace app's bot (chat.postMessage, conversations.*) and incoming webhooks --------------
# The channels every sandbox starts with, per workspace: (id, name, bot is a member). Slack answers
# not_in_channel for the last kind.
CHANNELS = {T_PARTNER: [("C0WINS00001", "wins", True), ("C0GENERAL01", "general", True),
                        ("C0RANDOM001", "random", False), ("C0LEARNING1", "learning", True),
                        ("C0LEADERS01", "leadership", True)],
            T_OTHER: [("C0OTHERWIN1", "wins", True)]}
PRIVATE = frozenset({"C0LEADERS01"})  # a private channel the bot was invited to: tiles must refuse it
# (channel id, user, mrkdwn text, ts): what the demo's Slack tile shows before anyone posts.
SAMPLE_MESSAGES = [
    ("C0LEARNING1", "U0PARTNER01", "Lunch and learn on Thursday: <https://lms.example.edu/course/12|Intro to SQL>",
     "1756720800.000100"),
    ("C0LEARNING1", "U0PARTNER01", "Who else is taking *Security Basics* this month? &lt;3 the labs",
     "1756807200.000200"),
    ("C0LEADERS01", "U0PARTNER01", "Budget review notes (private)", "1756807300.000300"),
]
POSTS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Slack sandbox: posts</title>
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:2rem auto;color:#1d1c1d}
h2{border-left:6px solid #4a154b;padding-left:.5rem}article{border:1px solid #ddd;border-radius:8px;padding:.7rem;
margin:.5rem 0}small{color:#555}</style></head><body><h1>Slack sandbox: posts</h1>
{% for channel, messages in channels %}<section><h2>#{{ channel }}</h2>
{% for m in messages %}<article><p>{{ m.text }}</p><small>{{ m.ts }}{% if m.get('metadata') %} ·
marker {{ m.metadata.event_payload.marker }}{% endif %}</small></article>
{% else %}<p>No posts yet.</p>{% endfor %}</section>{% endfor %}</body></html>"""


def _in_range(ts: str, args: dict[str, Any]) -> bool:
    """conversations.history's window: after `oldest`, before `latest`, both ends excluded unless inclusive."""
    inclusive = str(args.get("inclusive")).lower() in {"1", "true"}
    at = float(ts)
    oldest, latest = args.get("oldest"), args.get("latest")
    after_oldest = not oldest or at > float(oldest) or (at == float(oldest) and inclusive)
    before_latest = not latest or at < float(latest) or (at == float(latest) and inclusive)
    return after_oldest and before_latest


def _slack_posting_routes(sandbox: SlackSandbox) -> None:
    bp = sandbox.blueprint
    for method, view, verbs in (("chat.postMessage", sandbox.post_message, ["POST"]),
                                ("conversations.history", sandbox.conversations_history, ["GET", "POST"]),
                                ("conversations.list", sandbox.conversations_list, ["GET", "POST"]),
                                ("chat.getPermalink", sandbox.get_permalink, ["GET", "POST"]),
                                ("conversations.info", sandbox.conversations_info, ["GET", "POST"]),
                                ("users.info", sandbox.users_info, ["GET", "POST"]),
                                ("auth.test", sandbox.auth_test, ["GET", "POST"]),
                                ("auth.revoke", sandbox.auth_revoke, ["GET", "POST"])):
        bp.add_url_rule(f"/api/{method}", method.replace(".", "_"), view, methods=verbs)
    bp.add_url_rule("/services/<team>/<bot>/<secret>", "incoming_webhook", sandbox.incoming_webhook,
                    methods=["POST"])
    bp.add_url_rule("/posts", "posts", sandbox.posts_page)
    bp.add_url_rule("/oauth/v2/authorize", "install_authorize", sandbox.install_authorize, methods=["GET", "POST"])
    bp.add_url_rule("/api/oauth.v2.access", "oauth_v2_access", sandbox.oauth_v2_access, methods=["POST"])
