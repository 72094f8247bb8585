"""Ending a user's access (disable), giving it back (enable), and erasing them (GDPR art. 17).

One place decides what "disabled" means, whoever asks (an admin, `hub user disable`, SCIM `active: false`, an
organisation closed): the status, every session at once (hub.auth.sessions), the deliveries that would still post
for them, the provider tokens the hub holds (revoked where the provider allows), an audit row. Other parts (the
OpenID Provider's refresh tokens and codes) end their own grants on the two signals below, so this module never
imports them; receivers get `user_id` and the caller's `session`, and work inside the caller's transaction.
Nothing here commits: the caller's transaction makes it all happen, or none of it.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import typing
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import CursorResult, String, cast, delete, func, or_, select, update
from sqlalchemy.orm import Session

from hub import audit, redis_conn
from hub.auth.sessions import end_all_sessions
from hub.models import (
    AuditEvent,
    Connection,
    Consent,
    Delivery,
    DeliveryStatus,
    Erasure,
    Event,
    Identity,
    Invite,
    LmsAccount,
    MailMessage,
    Organisation,
    OrgPolicy,
    PendingSignup,
    User,
    UserStatus,
)
from hub.sharing import connect

signals = Namespace()
user_disabled = signals.signal("user-disabled")  # send(sender, user_id=, session=)
user_erased = signals.signal("user-erased")  # send(sender, user_id=, session=)

# Deliveries that have not reached the provider yet; a SENDING one is re-checked by the sender (user disabled).
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.HELD)
ERASED_NAME = "Erased user"


def disable(session: Session, user: User, *, actor: str, reason: str) -> None:
    """End the user's access now: sessions, waiting posts, provider tokens; then the signal for other grants."""
    user.status = UserStatus.DISABLED
    end_all_sessions(session, user)  # every browser session, and any copy of its cookie, ends here
    revoked = _drop_connections(session, user)
    signed_in = _forget_sign_in_tokens(session, user)
    skipped = _skip_waiting(session, user, f"skipped: the user was disabled ({reason})")
    audit.record("user.deprovision", "success", user_id=user.id, actor=actor, reason=reason,
                 detail={"skipped": skipped, "connections": revoked, "sign_in_tokens_revoked": signed_in},
                 commit=False)
    session.flush()
    user_disabled.send(__name__, user_id=user.id, session=session)


def enable(session: Session, user: User, *, actor: str, reason: str) -> None:
    """Give access back; connections and skipped posts stay gone (the user reconnects)."""
    user.status = UserStatus.ACTIVE
    audit.record("user.reprovision", "success", user_id=user.id, actor=actor, reason=reason, commit=False)
    session.flush()


def apply_policy(session: Session, org: Organisation, policy: str, *, actor: str) -> int:
    """Set an organisation's policy; closing it disables its members. Returns how many were disabled."""
    org.policy = OrgPolicy(policy)
    if policy != OrgPolicy.CLOSED:
        return 0
    members = list(session.scalars(select(User).where(
        User.org_id == org.id, User.status != UserStatus.DISABLED).order_by(User.id)))
    for member in members:
        disable(session, member, actor=actor, reason=f"organisation {org.name} closed")
    return len(members)


def pseudonym(email: str | None, user_id: int) -> str:
    """HMAC of the address under the secret key: the same address gives the same pseudonym, nobody can reverse it."""
    key = current_app.extensions["settings"].secret_key.encode()
    subject = (email or f"user:{user_id}").strip().lower()
    return hmac.new(key, f"erasure:{subject}".encode(), hashlib.sha256).hexdigest()


def is_erased(session: Session, user_id: int) -> bool:
    return session.get(Erasure, user_id) is not None


def erase(session: Session, user: User, *, actor: str) -> str:
    """Erase the user: identities, connections (revoked first), consents, waiting posts, LMS accounts, the signal's
    grants, and every personal field; the row stays as a pseudonym so events and the audit log keep their shape.
    Returns the pseudonym (what the audit log names them by from now on)."""
    email, user_id = user.email, user.id
    alias = pseudonym(email, user_id)
    label = f"erased:{alias[:16]}"
    # Waiting posts go first: dropping the connections would otherwise turn them into skipped rows that stay.
    session.execute(delete(Delivery).where(Delivery.user_id == user_id, Delivery.status.in_(WAITING))
                    .execution_options(synchronize_session=False))
    _drop_connections(session, user)
    _forget_sign_in_tokens(session, user)
    # Sent posts stay as a record of what was published, without the text that named the learner.
    session.execute(update(Delivery).where(Delivery.user_id == user_id).values(text=None, last_error=None)
                    .execution_options(synchronize_session=False))
    session.execute(update(Event).where(Event.user_id == user_id).values(payload={}, user_id=None)
                    .execution_options(synchronize_session=False))
    for model in (Identity, Consent, LmsAccount):
        session.execute(delete(model).where(model.user_id == user_id).execution_options(synchronize_session=False))
    if email:
        lowered = email.lower()
        session.execute(delete(PendingSignup).where(func.lower(PendingSignup.email) == lowered))
        session.execute(delete(MailMessage).where(func.lower(MailMessage.to) == lowered))
        session.execute(update(Invite).where(func.lower(Invite.email) == lowered).values(email=None))
    _scrub_audit(session, user_id, email, label)
    session.expire(user, ["identities"])
    user.email, user.email_verified = None, False
    user.name, user.given_name, user.family_name, user.picture = ERASED_NAME, None, None, None
    user.groups, user.is_admin = [], False
    user.status = UserStatus.DISABLED
    end_all_sessions(session, user)
    session.merge(Erasure(user_id=user_id, pseudonym=alias))
    session.flush()
    user_erased.send(__name__, user_id=user_id, session=session)
    audit.record("user.erase", "success", user_id=user_id, actor=label if actor == email else actor,
                 detail={"pseudonym": alias}, commit=False)
    if email:
        _scrub_redis(email)
    return alias


def _forget_sign_in_tokens(session: Session, user: User) -> int:
    """The tokens each sign-in identity holds (stored at sign-in): revoked at the provider where it can, then
    forgotten either way. Returns how many the providers revoked."""
    providers = current_app.extensions["providers"]
    revoked = 0
    for identity in session.scalars(select(Identity).where(Identity.user_id == user.id,
                                                           Identity.tokens_sealed.is_not(None))):
        revoked += connect.revoke_at_provider(providers.get(session, identity.provider), identity.tokens_sealed,
                                              identity.seal_context, f"the sign-in tokens of identity {identity.id}")
        identity.tokens_sealed = None
    return revoked


def _drop_connections(session: Session, user: User) -> int:
    rows = list(session.scalars(select(Connection).where(Connection.user_id == user.id)))
    for row in rows:
        connect.remove(session, row)
    return len(rows)


def _skip_waiting(session: Session, user: User, why: str) -> int:
    result = typing.cast(CursorResult[Any], session.execute(  # typing.cast: `cast` here is SQL's
        update(Delivery).where(Delivery.user_id == user.id, Delivery.status.in_(WAITING))
        .values(status=DeliveryStatus.SKIPPED, last_error=why).execution_options(synchronize_session=False)))
    return int(result.rowcount or 0)


def _scrub_audit(session: Session, user_id: int, email: str | None, label: str) -> None:
    """Audit rows keep what happened and when; the address is replaced by the pseudonym wherever it appears."""
    clauses: list[Any] = [AuditEvent.user_id == user_id]
    if email:
        pattern = f"%{email.lower()}%"
        clauses += [func.lower(AuditEvent.actor) == email.lower(),
                    func.lower(cast(AuditEvent.detail, String)).like(pattern),
                    func.lower(AuditEvent.reason).like(pattern)]
    for row in session.scalars(select(AuditEvent).where(or_(*clauses))):
        if email and row.actor and row.actor.lower() == email.lower():
            row.actor = label
        if email:
            row.detail = _replace(row.detail, email, label)
            if row.reason and email.lower() in row.reason.lower():
                row.reason = _replace(row.reason, email, label)


def _replace(value: Any, email: str, label: str) -> Any:
    """The value with every spelling of the address (any case) replaced, through nested JSON."""
    text = json.dumps(value)
    lowered = text.lower()
    needle = email.lower()
    out, start = [], 0
    while (found := lowered.find(needle, start)) >= 0:
        out += [text[start:found], label]
        start = found + len(needle)
    out.append(text[start:])
    return json.loads("".join(out))


def _scrub_redis(email: str) -> None:
    """Keys, and string values, that mention the address (login state, throttles): deleted. Erasure is rare, so a
    full SCAN is affordable; RQ jobs carry ids only and need nothing."""
    client = redis_conn.get()
    needle = email.lower().encode()
    for key in client.scan_iter(count=1000):
        if needle in key.lower():
            client.delete(key)
        elif client.type(key) == b"string":
            value = client.get(key)
            if value is not None and needle in value.lower():
                client.delete(key)
