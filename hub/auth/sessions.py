"""The signed-in user: a server-side record of every session, its lifetimes, and the guards views use.

The cookie (Flask's signed session) carries a random session id; the database keeps only its SHA-256
(hub.models.UserSession), with when the session began, when it was last used and when it ended. A session counts
while its row is not ended, is younger than HUB_SESSION_MAX_AGE (use does not extend it) and was used within
HUB_SESSION_IDLE, and while its user is active in the epoch the session began in. Signing out ends the row, so a
copied cookie ends with it; end_all_sessions ends every row of a user at once.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, cast

from flask import Flask, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from sqlalchemy import Connection, CursorResult, delete, or_, select, update
from sqlalchemy.orm import Session

from hub import clock, db
from hub.config import Settings
from hub.crypto import new_token, token_hash
from hub.models import User, UserSession, UserStatus, aware

SESSION_ID_KEY = "session_id"  # in the cookie: the session's secret id (its hash is the row's key)
TOUCH_EVERY = timedelta(minutes=1)  # last use is written at most this often: no database write per request
RETAIN_ENDED = timedelta(days=7)  # an ended or expired session's row stays this long (who was signed in when)
PRUNE_BATCH = 100  # old rows removed per sign-in: the cleanup never makes one sign-in slow


def _settings() -> Settings:
    return current_app.extensions["settings"]


def sign_in(user: User, provider: str) -> None:
    """Start a fresh session for user: the browser's previous one ends, and its contents are dropped (no fixation)."""
    now = clock.now()
    with db.transaction() as db_session:
        _end_this_session(db_session, now)
        secret = start_session(db_session, user, now)
        _prune(db_session, now)
    session.clear()
    session[SESSION_ID_KEY] = secret
    session["uid"] = user.id
    session["epoch"] = user.session_epoch
    session["idp"] = provider
    session["auth_time"] = int(now.timestamp())
    session.permanent = True
    g.pop("current_user", None)


def start_session(db_session: Session, user: User, now: datetime) -> str:
    """A new server-side session for user, begun at now (the caller commits); returns the secret id the cookie
    carries under SESSION_ID_KEY. Only its hash is stored."""
    secret = new_token()
    db_session.add(UserSession(id_hash=token_hash(secret), user_id=user.id, created_at=now, last_seen_at=now))
    return secret


def sign_out() -> None:
    """End this browser's session on the server, so no copy of its cookie works either, and forget it here."""
    if isinstance(session.get(SESSION_ID_KEY), str):
        with db.transaction() as db_session:
            _end_this_session(db_session, clock.now())
    session.clear()
    g.current_user = None


def end_all_sessions(db_session: Session, user: User) -> int:
    """End every session of user now, in every browser: signing out everywhere, disabling or erasing the user,
    changing their role (the new role starts with a new sign-in). Works in the caller's transaction (the caller
    commits); returns how many sessions were still open."""
    user.session_epoch += 1  # cookies carry the epoch they began in: a second, independent check
    ended = cast(CursorResult[Any], db_session.execute(
        update(UserSession).where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
        .values(ended_at=clock.now()).execution_options(synchronize_session=False)))
    return int(ended.rowcount or 0)


def current_user() -> User | None:
    """The session's user while its server-side session lives; otherwise None, and the cookie is cleared."""
    if "current_user" in g:
        return g.current_user
    user = None
    if session.get("uid") is not None:
        user = _live_user(db.session(), clock.now())
        if user is None:
            session.clear()  # ended, expired or from before server-side sessions: the browser signs in again
    g.current_user = user
    return user


def _live_user(db_session: Session, now: datetime) -> User | None:
    secret = session.get(SESSION_ID_KEY)
    row = db_session.get(UserSession, token_hash(secret)) if isinstance(secret, str) else None
    if row is None or row.user_id != session.get("uid") or not _alive(row, now, _settings()):
        return None
    user = db_session.get(User, row.user_id)
    if user is None or user.status != UserStatus.ACTIVE or user.session_epoch != session.get("epoch"):
        return None
    _touch(row, now)
    return user


def _alive(row: UserSession, now: datetime, settings: Settings) -> bool:
    """Not ended, within the absolute lifetime, and used recently enough."""
    return (row.ended_at is None and aware(row.created_at) + settings.session_max_age > now
            and aware(row.last_seen_at) + settings.session_idle > now)


def _touch(row: UserSession, now: datetime) -> None:
    """Record the use for the idle timeout, at most once a minute, on a connection of its own: the request's
    transaction is left alone (a view may be in the middle of its own)."""
    if now - aware(row.last_seen_at) < TOUCH_EVERY:
        return
    statement = (update(UserSession).where(UserSession.id_hash == row.id_hash, UserSession.ended_at.is_(None))
                 .values(last_seen_at=now))

    def work(connection: Connection) -> None:
        connection.execute(statement)

    db.commit_together(current_app.extensions["db_engine"], work)


def _end_this_session(db_session: Session, now: datetime) -> None:
    secret = session.get(SESSION_ID_KEY)
    if isinstance(secret, str):
        db_session.execute(update(UserSession).where(UserSession.id_hash == token_hash(secret),
                                                     UserSession.ended_at.is_(None))
                           .values(ended_at=now).execution_options(synchronize_session=False))


def _prune(db_session: Session, now: datetime) -> None:
    """Delete a bounded batch of rows of sessions that ended, or expired, over RETAIN_ENDED ago: sign-ins keep the
    table from growing forever without a job of its own."""
    settings, cutoff = _settings(), now - RETAIN_ENDED
    old = select(UserSession.id_hash).where(or_(
        UserSession.ended_at < cutoff,
        UserSession.created_at < cutoff - settings.session_max_age,
        UserSession.last_seen_at < cutoff - settings.session_idle,
    )).limit(PRUNE_BATCH)
    hashes = list(db_session.scalars(old))
    if hashes:
        db_session.execute(delete(UserSession).where(UserSession.id_hash.in_(hashes))
                           .execution_options(synchronize_session=False))


class CookieSessions(SecureCookieSessionInterface):
    """The cookie expires when its session's absolute lifetime ends, however often it is sent again (the server's
    check is what counts; this keeps browsers from holding a dead cookie for long)."""

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        started = session.get("auth_time")
        if session.permanent and isinstance(started, int):
            return datetime.fromtimestamp(started, UTC) + app.permanent_session_lifetime
        return super().get_expiration_time(app, session)


def login_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if current_user() is None:
            return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        user = current_user()
        if user is None:
            return redirect(url_for("auth.login_page", next=request.full_path.rstrip("?")))
        if not user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper
