"""Parse xAPI statements leniently, as emitters send them, and give each a stable id for dedupe.

A 400 makes Moodle's logstore_xapi halve its batch and resend, so only unparseable JSON, a
statement with no actor, verb or object, or an actor whose mbox is not a mailto: address by the hub's one
policy (hub/emails.py) is refused; everything else (Moodle's `instructor: "System"`, an `objectType`
given as an array) is taken as it comes.
"""
from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from hub import emails, json_input

# Fixed namespace for ids derived from statements that come without one (Moodle sends none).
DERIVED_ID_NAMESPACE = uuid.UUID("6f1c2b7e-3a55-5d0e-9b52-5c8a0e0f4a11")
# Properties an LRS sets itself: they never make two statements with one id "different" (xAPI 2.2.4.3).
_LRS_SET = ("id", "stored", "authority", "version")
# The Agent's identifier (IFI) fields, the part of an actor that says who it is.
_IFI = ("mbox", "mbox_sha1sum", "openid", "account")


class StatementError(ValueError):
    """A request the endpoint refuses (400); the message names the bad field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Statement:
    """One received statement: its id (given or derived), its content and a hash to compare resends."""

    id: str
    body: dict[str, Any]  # as received, with the id filled in
    content_hash: str
    derived_id: bool  # True: the sender gave no id; a resend with other details is still the same event


def parse_body(raw: bytes) -> list[dict[str, Any]]:
    """The statements in a request body: one object or an array of them."""
    try:
        data = json_input.loads(raw)  # nesting past json_input.MAX_DEPTH is refused before json recurses
    except json_input.InvalidJson as exc:
        raise StatementError(f"body: {exc}", "body") from None
    items = data if isinstance(data, list) else [data]
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise StatementError(f"statements[{index}]: a statement must be a JSON object", f"statements[{index}]")
    return items


def prepare(body: dict[str, Any], where: str = "statement", statement_id: str | None = None) -> Statement:
    """Check the three parts an event needs and settle the statement's id (PUT passes statementId)."""
    for part in ("actor", "verb", "object"):
        if not isinstance(body.get(part), dict) or not body[part]:
            raise StatementError(f"{where}.{part}: required, and must be an object", f"{where}.{part}")
    _check_mbox(body["actor"].get("mbox"), f"{where}.actor.mbox")
    given = body.get("id")
    if given is not None and not isinstance(given, str):
        raise StatementError(f"{where}.id: must be a string", f"{where}.id")
    if statement_id is not None and given is not None and _normal_id(given) != _normal_id(statement_id):
        raise StatementError(f"{where}.id: differs from the statementId parameter", f"{where}.id")
    chosen = statement_id or given
    if chosen is not None and len(chosen) > 255:
        raise StatementError(f"{where}.id: longer than 255 characters", f"{where}.id")
    final = _normal_id(chosen) if chosen else derived_id(body)
    return Statement(id=final, body={**body, "id": final}, content_hash=content_hash(body),
                     derived_id=chosen is None)


def _check_mbox(mbox: Any, where: str) -> None:
    """An actor's mbox, when given, is mailto: and an address the hub takes everywhere else (xAPI 2.4.2.3)."""
    if mbox is None:
        return
    if not isinstance(mbox, str) or not mbox.lower().startswith("mailto:"):
        raise StatementError(f"{where}: must be mailto: followed by an email address", where)
    try:
        emails.normalise(mbox[len("mailto:"):])
    except emails.InvalidEmail as exc:
        raise StatementError(f"{where}: {exc}", where) from None


def derived_id(body: dict[str, Any]) -> str:
    """A UUIDv5 of who, did what, to what, when: a resent Moodle batch gets the same ids again."""
    actor = body["actor"]
    who = {key: actor[key] for key in _IFI if key in actor} or actor
    obj = body["object"]
    key = {"actor": who, "verb": body["verb"].get("id"), "object": obj.get("id", obj),
           "timestamp": body.get("timestamp")}
    return str(uuid.uuid5(DERIVED_ID_NAMESPACE, _canonical(key)))


def content_hash(body: dict[str, Any]) -> str:
    """SHA-256 of the statement without the properties an LRS may set, to tell a resend from a conflict."""
    return hashlib.sha256(_canonical({k: v for k, v in body.items() if k not in _LRS_SET}).encode()).hexdigest()


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _normal_id(value: str) -> str:
    """UUIDs compare case-insensitively; anything else is kept as the sender wrote it."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return value
