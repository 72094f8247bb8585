"""A local Yammer REST v1: messages.json and messages/in_group/{id}.json, behind Entra tokens.

Mounted inside the Microsoft sandbox (at /yammer), because only Entra's token endpoint can say
whether a bearer token was issued for https://www.yammer.com/.default. Message endpoints allow
10 requests per 30 s per user, then 429, as Yammer documents. Reading (tiles): in_group takes
newer_than/older_than/limit and answers the senders in `references`; "Learning news" starts with a few
sample messages, `add_message` adds someone's message for tests, `reads` records each read's query.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, jsonify, request

from providers.posting_sandbox import PostingFaults, posts_page
from providers.sandbox_kit import Grant

YAMMER_SCOPE = "https://www.yammer.com/.default"
MESSAGE_LIMIT, WINDOW = 10, 30.0
# group id -> (name, tenant id, external). External groups need `yammer-capabilities`.
GROUPS: dict[str, tuple[str, str, bool]] = {
    "123456": ("Learning wins", "5f2b1c3e-8a4d-4e6f-9b1a-2c3d4e5f6a7b", False),
    "234567": ("Partners (external)", "5f2b1c3e-8a4d-4e6f-9b1a-2c3d4e5f6a7b", True),
    "345678": ("Fabrikam all company", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d", False),
    "456789": ("Learning news", "5f2b1c3e-8a4d-4e6f-9b1a-2c3d4e5f6a7b", False),
}
# People who wrote the sample messages (not sign-in users): Yammer's user references.
PEOPLE: dict[str, dict[str, Any]] = {
    "1488000001": {"full_name": "Lee Gu", "name": "leeg",
                   "mugshot_url": "https://mugshot0.assets-yammer.com/mugshot/images/48x48/leeg.png"},
}
# (group id, sender id, plain body, rich body, created_at): what the demo's Yammer tile shows before anyone posts.
SAMPLE_MESSAGES = [
    ("456789", "1488000001", "Welcome to Learning news: new courses every Monday.",
     "<p>Welcome to <b>Learning news</b>: new courses every Monday.</p>", "2026/09/01 08:00:00 +0000"),
    ("456789", "1488000001", "This week: Security Basics and Intro to SQL. Enrol in the LMS.",
     '<p>This week: <a href="https://lms.example.edu/catalog">Security Basics and Intro to SQL</a>. '
     "Enrol in the LMS.</p>", "2026/09/08 08:00:00 +0000"),
]
CAPABILITIES = {"external-messaging", "external-groups"}


def _fail(status: int, message: str, code: int = 0) -> Any:
    """Yammer's v1 error body."""
    return jsonify({"response": {"message": message, "code": code, "stat": "fail"}}), status


class YammerApi:
    def __init__(self, tokens: Mapping[str, Grant]) -> None:
        self.tokens = tokens
        self.messages: list[dict[str, Any]] = []
        self.posting_faults = PostingFaults()
        self.message_limit = MESSAGE_LIMIT
        self._ids = itertools.count(2100000001)
        self._windows: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self.people: dict[str, dict[str, Any]] = {k: dict(v) for k, v in PEOPLE.items()}
        self.reads: list[dict[str, str]] = []
        sample_ids = itertools.count(2000000001)  # below posted ids: the samples are older
        for group_id, sender, plain, rich, created_at in SAMPLE_MESSAGES:
            self.messages.append(_message(next(sample_ids), group_id, sender, plain, rich, created_at))

    def mount(self, bp: Blueprint, prefix: str = "/yammer") -> None:
        bp.add_url_rule(f"{prefix}/api/v1/messages.json", "yammer_messages", self.post_message, methods=["POST"])
        bp.add_url_rule(f"{prefix}/api/v1/messages/in_group/<group_id>.json", "yammer_in_group", self.in_group)
        bp.add_url_rule(f"{prefix}/groups", "yammer_groups", self.groups_page)

    def group_messages(self, group_id: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if str(m["group_id"]) == group_id]

    def groups_page(self) -> str:
        """Each group's messages as its members would see them (the demo links here)."""
        senders = {grant.user["oid"]: grant.user.get("name", "") for grant in list(self.tokens.values())}
        sections = [(f"{name} (group {group_id})",
                     [(m["body"]["plain"], f"{senders.get(m['sender_id']) or self._full_name(m['sender_id'])} · "
                                           f"{m['created_at']}")
                      for m in self.group_messages(group_id)])
                    for group_id, (name, _tenant, _external) in GROUPS.items()]
        return posts_page("Viva Engage (Yammer) sandbox: groups", "#0078d4", sections)

    def _full_name(self, sender: str) -> str:
        return str(self.people.get(sender, {}).get("full_name") or sender)

    def _grant(self) -> Grant | None:
        header = request.headers.get("Authorization", "")
        grant = self.tokens.get(header[len("Bearer "):]) if header.startswith("Bearer ") else None
        return grant if grant is not None and YAMMER_SCOPE in grant.scope.split() else None

    def _limited(self, user: str) -> float:
        """Seconds until the user's 30-second window has room; 0 when this request may go."""
        now = time.time()
        with self._lock:
            window = [t for t in self._windows.get(user, []) if now - t < WINDOW]
            if len(window) >= self.message_limit:
                self._windows[user] = window
                return WINDOW - (now - window[0])
            self._windows[user] = [*window, now]
        return 0.0

    def _checks(self, group_id: str) -> tuple[Grant | None, Any]:
        canned = self.posting_faults.pop()
        if canned:
            return None, canned
        grant = self._grant()
        if grant is None:
            return None, _fail(401, "Token not found.", 16)
        wait = self._limited(grant.user["oid"])
        if wait:
            response, status = _fail(429, "Rate limited due to excessive requests.", 33)
            response.headers["Retry-After"] = str(max(int(wait + 0.999), 1))
            return None, (response, status)
        group = GROUPS.get(group_id)
        if group is None or group[1] != grant.user["tid"]:
            return None, _fail(404, "Group not found.", 17)
        if group[2]:
            offered = {c.strip() for c in request.headers.get("yammer-capabilities", "").split(",")}
            if not CAPABILITIES.issubset(offered):
                return None, _fail(403, "External group: send yammer-capabilities: external-messaging,external-groups")
        return grant, None

    def post_message(self) -> Any:
        """POST /api/v1/messages.json: body and group_id, og_* for the link preview; 201 with the message."""
        values = request.get_json(silent=True) or request.form.to_dict()
        group_id = str(values.get("group_id") or "")
        grant, refused = self._checks(group_id)
        if refused is not None:
            return refused
        assert grant is not None, "_checks answers a grant or a refusal"
        body = str(values.get("body") or "")
        if not body.strip():
            return _fail(400, "Please include a message", 0)
        message = _message(next(self._ids), group_id, grant.user["oid"], body, body, _now())
        message["og"] = {k[3:]: v for k, v in values.items() if k.startswith("og_")}
        with self._lock:
            self.people.setdefault(grant.user["oid"], {"full_name": grant.user.get("name", ""),
                                                       "name": str(grant.user.get("preferred_username", "")),
                                                       "mugshot_url": None})
            self.messages.append(message)
        return jsonify({"messages": [message], "references": [], "meta": {}}), 201

    def in_group(self, group_id: str) -> Any:
        """GET /api/v1/messages/in_group/{id}.json: newest first, `limit` at most 20."""
        self.reads.append({"group_id": group_id, **request.args.to_dict()})
        _grant, refused = self._checks(group_id)
        if refused is not None:
            return refused
        limit = min(int(request.args.get("limit") or 20), 20)
        newer_than, older_than = int(request.args.get("newer_than") or 0), int(request.args.get("older_than") or 0)
        wanted = [m for m in reversed(self.messages) if str(m["group_id"]) == group_id and m["id"] > newer_than
                  and (not older_than or m["id"] < older_than)]
        newest = wanted[:limit]
        senders = {str(m["sender_id"]) for m in newest}
        references = [{"type": "user", "id": sender, "state": "active", **self.people[sender],
                       "web_url": f"https://www.yammer.com/contoso.example/users/{sender}"}
                      for sender in sorted(senders) if sender in self.people]
        return jsonify({"messages": newest, "references": references,
                        "meta": {"older_available": len(wanted) > limit}})

    def add_message(self, group_id: str, plain: str, sender: str = "1488000001", rich: str | None = None) -> int:
        """A message someone wrote in a group (not through the API); returns its id."""
        message = _message(next(self._ids), group_id, sender, plain, rich or plain, _now())
        with self._lock:
            self.messages.append(message)
        return int(message["id"])


def _now() -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S +0000", time.gmtime())


def _message(message_id: int, group_id: str, sender: str, plain: str, rich: str, created_at: str) -> dict[str, Any]:
    """A v1 message as Yammer answers it."""
    return {"id": message_id, "group_id": int(group_id), "sender_id": sender, "sender_type": "user",
            "message_type": "update", "created_at": created_at, "thread_id": message_id,
            "web_url": f"https://www.yammer.com/contoso.example/messages/{message_id}",
            "body": {"plain": plain, "parsed": plain, "rich": rich}}
