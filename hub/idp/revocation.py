"""Ending what the IdP issued: a grant on code/refresh replay, a user on disable/erase, a session on logout.

hub.deprovision sends `user_disabled` / `user_erased` (blinker signals with user_id) without
importing the IdP; connect_signals subscribes these handlers. Token, refresh and userinfo
requests also check the user's status themselves (hub.idp.server), so a disabled user is
refused even if a handler never ran.
"""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

from flask import session as browser_session
from sqlalchemy import CursorResult, delete, update
from sqlalchemy.orm import Session

from hub.auth.sessions import sign_out
from hub.models import AuthorizationCode, IdpConsent, IdpSubject, IdpToken

log = logging.getLogger(__name__)


def revoke_grant(session: Session, grant_id: str, reason: str = "after a replayed code or refresh token") -> int:
    """Revoke every token issued from one code (all its refresh generations); the caller commits."""
    done = cast(CursorResult[Any], session.execute(
        update(IdpToken).where(IdpToken.grant_id == grant_id, IdpToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC)).execution_options(synchronize_session=False)))
    if done.rowcount:
        log.warning("idp grant revoked %s (%d tokens)", reason, done.rowcount)
    return int(done.rowcount or 0)


def forget_user(session: Session, user_id: int, *, subject_too: bool = False) -> None:
    """Delete the user's codes, tokens and consents at once (and their `sub` on erasure); the caller commits."""
    for model in (IdpToken, AuthorizationCode, IdpConsent):
        session.execute(delete(model).where(model.user_id == user_id).execution_options(synchronize_session=False))
    if subject_too:
        session.execute(delete(IdpSubject).where(IdpSubject.user_id == user_id))


def on_user_disabled(sender: Any, user_id: int, session: Session | None = None, **_: Any) -> None:
    """hub.deprovision.user_disabled: refresh tokens, access tokens, codes and consents go now."""
    _in_session(session, lambda s: forget_user(s, user_id))


def on_user_erased(sender: Any, user_id: int, session: Session | None = None, **_: Any) -> None:
    """hub.deprovision.user_erased: as disabled, and the `sub` the LMSs knew is forgotten too."""
    _in_session(session, lambda s: forget_user(s, user_id, subject_too=True))


def _in_session(session: Session | None, work: Any) -> None:
    # With the sender's session the deletes join its transaction (one commit for the whole
    # deprovisioning); without one they run and commit in the app's own.
    if session is not None:
        work(session)
        return
    from hub import db

    with db.transaction() as own:
        work(own)


def end_browser_session(session: Session, id_token_claims: dict[str, Any] | None) -> None:
    """RP-initiated logout: the hub session ends (on the server too), and so do tokens bound to it (same sid)."""
    sid = browser_session.get("idp_sid")
    if sid and id_token_claims and id_token_claims.get("sid") == sid:
        session.execute(update(IdpToken).where(IdpToken.sid == sid, IdpToken.revoked_at.is_(None))
                        .values(revoked_at=datetime.now(UTC)).execution_options(synchronize_session=False))
        session.commit()
    sign_out()


def connect_signals() -> None:
    """Subscribe to hub.deprovision's signals (blinker ignores a receiver connected twice)."""
    try:
        from hub import deprovision
    except ImportError:  # deprovisioning not installed yet: the status checks still refuse disabled users
        return
    deprovision.user_disabled.connect(on_user_disabled)
    if hasattr(deprovision, "user_erased"):
        deprovision.user_erased.connect(on_user_erased)
