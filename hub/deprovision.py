"""Ending a user's access (disable), giving it back (enable), and erasing them (GDPR art. 17).

One place decides what "disabled" means, whoever asks (an admin, `hub user disable`, SCIM `active: false`, an
organisation closed): the status, every session at once (hub.auth.sessions), the deliveries that would still post
for them, the provider tokens the hub holds (revoked where the provider allows), an audit row. Other parts (the
OpenID Provider's refresh tokens and codes) end their own grants on the two signals below, so this module never
imports them; receivers get `user_id` and the caller's `session`, and work inside the caller's transaction.
Nothing here commits: the caller's transaction makes it all happen, or none of it (but `erase_overdue`, the worker's
sweep, which commits each erasure on its own).

Two safeguards sit in front of those (docs/deprovisioning.md): the grace period, after which the worker's sweep
erases a deactivated user (`erase_overdue`, per organisation, off by default), and the mass-suspension guard, which
holds SCIM deactivations once too large a share of an organisation is being deactivated within an hour
(`scim_deactivate`), for an admin to `confirm` or `reject`.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import typing
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from blinker import Namespace
from flask import current_app
from sqlalchemy import ColumnElement, CursorResult, String, cast, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from hub import audit, clock, redis_conn
from hub.auth.sessions import end_all_sessions
from hub.errors import HubError
from hub.models import (
    AuditEvent,
    Connection,
    Consent,
    Delivery,
    DeliveryStatus,
    DeprovisioningHold,
    Erasure,
    Event,
    HoldStatus,
    Identity,
    Invite,
    LmsAccount,
    MailMessage,
    Organisation,
    OrgPolicy,
    PendingSignup,
    User,
    UserStatus,
    aware,
)
from hub.sharing import connect

signals = Namespace()
user_disabled = signals.signal("user-disabled")  # send(sender, user_id=, session=)
user_erased = signals.signal("user-erased")  # send(sender, user_id=, session=)

# Deliveries that have not reached the provider yet; a SENDING one is re-checked by the sender (user disabled).
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.FAILED, DeliveryStatus.HELD)
ERASED_NAME = "Erased user"
VIA_SCIM = "scim"  # users.disabled_via of a SCIM deactivation applied at once: what the guard counts
VIA_HELD = "scim-held"  # one an admin confirmed after the guard held it: decided by a person, not counted
GUARD_WINDOW = timedelta(hours=1)


class HoldDecided(HubError):
    """The held deactivation was already confirmed, rejected or withdrawn: nothing changes."""


def disable(session: Session, user: User, *, actor: str, reason: str, via: str | None = None) -> None:
    """End the user's access now: sessions, waiting posts, provider tokens; then the signal for other grants.

    `via` names the channel when the mass-suspension guard must count it (VIA_SCIM)."""
    user.status = UserStatus.DISABLED
    user.disabled_at, user.disabled_via = clock.now(), via  # the grace period before erasure counts from here
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
    """Give access back; connections and skipped posts stay gone (the user reconnects). Identities, organisation,
    groups and roles were kept by `disable`, so within the grace period this restores everything it kept."""
    user.status = UserStatus.ACTIVE
    user.disabled_at, user.disabled_via = None, None  # no grace period runs for an active user
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


# --- the mass-suspension guard ---------------------------------------------------------------
def held_clause(user_id: Any) -> ColumnElement[bool]:
    """True where the user (an id or a column) has a deactivation waiting for an admin (SCIM shows them inactive)."""
    return exists(select(DeprovisioningHold.id).where(DeprovisioningHold.user_id == user_id,
                                                      DeprovisioningHold.status == HoldStatus.HELD))


def pending_hold(session: Session, user_id: int) -> DeprovisioningHold | None:
    """The user's deactivation waiting for an admin, if any."""
    return session.scalar(select(DeprovisioningHold).where(DeprovisioningHold.user_id == user_id,
                                                           DeprovisioningHold.status == HoldStatus.HELD))


def guard_trips(session: Session, org: Organisation) -> bool:
    """Would one more SCIM deactivation in `org` make more than guard_share percent of it, and more than guard_min
    users, deactivated within the last hour? Counted: those SCIM applied at once in the window, those held now, and
    this one, against the organisation as it was an hour ago (its members, less those deactivated before then)."""
    since = clock.now() - GUARD_WINDOW
    recent = session.scalar(select(func.count()).select_from(User).where(
        User.org_id == org.id, User.status == UserStatus.DISABLED, User.disabled_via == VIA_SCIM,
        User.disabled_at >= since)) or 0
    held = session.scalar(select(func.count()).select_from(DeprovisioningHold).where(
        DeprovisioningHold.org_id == org.id, DeprovisioningHold.status == HoldStatus.HELD)) or 0
    members = session.scalar(select(func.count()).select_from(User).where(
        User.org_id == org.id, or_(User.status != UserStatus.DISABLED, User.disabled_at >= since),
        ~exists(select(Erasure.user_id).where(Erasure.user_id == User.id)))) or 0
    wanted = recent + held + 1
    return wanted > org.guard_min and wanted * 100 > org.guard_share * members


def scim_deactivate(session: Session, user: User, *, actor: str) -> DeprovisioningHold | None:
    """SCIM's active=false: disable the user now, or hold it when the guard trips (returns the hold). Asking again
    while a hold waits changes nothing; users of no organisation have no guard."""
    if user.status == UserStatus.DISABLED:
        return None
    if (hold := pending_hold(session, user.id)) is not None:
        return hold
    # The organisation's row locked (PostgreSQL): two SCIM requests at once count one after the other.
    org = session.get(Organisation, user.org_id, with_for_update=True) if user.org_id else None
    if org is None or not guard_trips(session, org):
        disable(session, user, actor=actor, reason="scim active=false", via=VIA_SCIM)
        return None
    hold = DeprovisioningHold(org_id=org.id, user_id=user.id, actor=actor, reason="scim active=false",
                              requested_at=clock.now())
    session.add(hold)
    session.flush()
    audit.record("user.deprovision", "held", user_id=user.id, actor=actor, reason="scim active=false",
                 detail={"hold": hold.id, "guard_share": org.guard_share, "guard_min": org.guard_min},
                 commit=False)
    return hold


def scim_activate(session: Session, user: User, *, actor: str) -> None:
    """SCIM's active=true: withdraw a deactivation still held (the user never lost access), enable a disabled user."""
    if (hold := pending_hold(session, user.id)) is not None:
        _decide(hold, HoldStatus.WITHDRAWN, actor)
        audit.record("deprovision.hold.withdraw", "success", user_id=user.id, actor=actor,
                     detail={"hold": hold.id}, commit=False)
    if user.status != UserStatus.ACTIVE:
        enable(session, user, actor=actor, reason="scim active=true")


def held(session: Session, where: ColumnElement[bool]) -> list[DeprovisioningHold]:
    """The deactivations waiting for an admin, oldest first; `where` is the reader's reach on the organisation."""
    return list(session.scalars(select(DeprovisioningHold).where(
        DeprovisioningHold.status == HoldStatus.HELD, where).order_by(DeprovisioningHold.id)))


def confirm(session: Session, hold: DeprovisioningHold, *, actor: str) -> None:
    """An admin agrees: the deactivation is applied now, as SCIM asked (not counted by the guard again)."""
    _decide(hold, HoldStatus.CONFIRMED, actor)
    user = session.get(User, hold.user_id)
    if user is not None and user.status != UserStatus.DISABLED:
        disable(session, user, actor=actor, reason=f"scim active=false, held as #{hold.id} and confirmed",
                via=VIA_HELD)
    audit.record("deprovision.hold.confirm", "success", user_id=hold.user_id, actor=actor, org_id=hold.org_id,
                 detail={"hold": hold.id, "requested_by": hold.actor}, commit=False)


def reject(session: Session, hold: DeprovisioningHold, *, actor: str) -> None:
    """An admin refuses: the user stays active (the SCIM client sees active=true again on its next read)."""
    _decide(hold, HoldStatus.REJECTED, actor)
    audit.record("deprovision.hold.reject", "success", user_id=hold.user_id, actor=actor, org_id=hold.org_id,
                 detail={"hold": hold.id, "requested_by": hold.actor}, commit=False)


def decide_all(session: Session, holds: Iterable[DeprovisioningHold], decision: str, *, actor: str) -> int:
    """Confirm or reject each of `holds`; returns how many."""
    act = confirm if decision == "confirm" else reject
    count = 0
    for hold in holds:
        act(session, hold, actor=actor)
        count += 1
    return count


def _decide(hold: DeprovisioningHold, status: HoldStatus, actor: str) -> None:
    if hold.status != HoldStatus.HELD:
        raise HoldDecided(f"deactivation #{hold.id} was already {hold.status}")
    hold.status, hold.decided_at, hold.decided_by = status, clock.now(), actor


# --- the grace period ------------------------------------------------------------------------
def overdue(session: Session, org: Organisation, now: datetime | None = None) -> list[User]:
    """The organisation's users deactivated at least erase_after_days ago and not erased yet (none when it is off)."""
    if org.erase_after_days is None:
        return []
    cutoff = (now or clock.now()) - timedelta(days=org.erase_after_days)
    return list(session.scalars(select(User).where(
        User.org_id == org.id, User.status == UserStatus.DISABLED, User.disabled_at.is_not(None),
        User.disabled_at <= cutoff, ~exists(select(Erasure.user_id).where(Erasure.user_id == User.id)))
        .order_by(User.id)))


def erase_overdue(session: Session) -> int:
    """The worker's sweep (the reconcile job, every minute): erase every user whose organisation's grace period has
    run out since they were deactivated, each in its own transaction, audited. Returns how many were erased."""
    now = clock.now()
    erased = 0
    for org in list(session.scalars(select(Organisation).where(Organisation.erase_after_days.is_not(None)))):
        days = org.erase_after_days
        for user in overdue(session, org, now):
            since = aware(user.disabled_at)
            erase(session, user, actor=f"deprovisioning: erase after {days} days")
            audit.record("user.erase.grace", "success", user_id=user.id, org_id=org.id,
                         actor="deprovisioning", detail={"erase_after_days": days,
                                                         "disabled_at": since.isoformat() if since else None},
                         commit=False)
            session.commit()
            erased += 1
    return erased


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
