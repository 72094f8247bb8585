"""ID token signing keys and their rotation.

Scheme: there is always a *next* key, published in JWKS but not signing. `hub key rotate`
makes next the *current* (signing) key, retires the old current, and creates a new next.
So every key is in JWKS at least one rotation interval before it signs, and an RP whose
cached JWKS predates a rotation already holds the new key. A retired key stays published
for KEY_RETIREMENT_SECONDS (longer than any ID token lives), then it is deleted.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from joserfc.jwk import RSAKey
from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from hub import clock
from hub.crypto import Vault
from hub.idp.lifetimes import KEY_RETIREMENT_SECONDS
from hub.models import KeyState, SigningKey

ALG = "RS256"


def _now() -> datetime:
    """The app's clock (hub.clock): a retired key leaves JWKS when the ID tokens it signed have expired by it."""
    return clock.now()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _new_key(session: Session, vault: Vault, state: KeyState) -> SigningKey:
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALG}
    row = SigningKey(kid=kid, alg=ALG, state=state, public_jwk=public, private_sealed="",
                     activated_at=_now() if state is KeyState.CURRENT else None)
    row.private_sealed = vault.seal(json.dumps(key.as_dict(private=True)), row.seal_context)
    session.add(row)
    return row


def _by_state(session: Session, state: KeyState) -> list[SigningKey]:
    return list(session.scalars(select(SigningKey).where(SigningKey.state == state)
                                .order_by(SigningKey.id.desc())))


def ensure(session: Session, vault: Vault) -> None:
    """A fresh hub gets a current and a next key on first use; the caller commits."""
    if not _by_state(session, KeyState.CURRENT):
        _new_key(session, vault, KeyState.CURRENT)
    if not _by_state(session, KeyState.NEXT):
        _new_key(session, vault, KeyState.NEXT)
    session.flush()


def rotate(session: Session, vault: Vault) -> tuple[str, str]:
    """next -> current, current -> retired, a new next; expired retired keys go. Returns (current, next) kids."""
    ensure(session, vault)
    now = _now()
    for old in _by_state(session, KeyState.CURRENT):
        old.state, old.retired_at = KeyState.RETIRED, now
        old.remove_after = now + timedelta(seconds=KEY_RETIREMENT_SECONDS)
    promoted = _by_state(session, KeyState.NEXT)[0]
    promoted.state, promoted.activated_at = KeyState.CURRENT, now
    fresh = _new_key(session, vault, KeyState.NEXT)
    prune(session)
    session.flush()
    return promoted.kid, fresh.kid


def prune(session: Session) -> int:
    """Delete retired keys whose tokens have all expired."""
    done = cast(CursorResult[Any], session.execute(
        delete(SigningKey).where(SigningKey.state == KeyState.RETIRED, SigningKey.remove_after < _now())))
    return int(done.rowcount or 0)


def published(session: Session) -> dict[str, Any]:
    """The JWKS document: next, current and still-needed retired keys (public halves only)."""
    now = _now()
    rows = session.scalars(select(SigningKey).order_by(SigningKey.id))
    keys = [row.public_jwk for row in rows
            if row.state != KeyState.RETIRED or (row.remove_after and _aware(row.remove_after) > now)]
    return {"keys": keys}


def signing_key(session: Session, vault: Vault, cache: dict[str, RSAKey]) -> RSAKey:
    """The current private key (unsealed once per process per kid; a rotation changes the kid)."""
    current = _by_state(session, KeyState.CURRENT)
    if not current:
        ensure(session, vault)
        session.commit()
        current = _by_state(session, KeyState.CURRENT)
    row = current[0]
    key = cache.get(row.kid)
    if key is None:
        key = RSAKey.import_key(json.loads(vault.open(row.private_sealed, row.seal_context)),
                                {"kid": row.kid, "use": "sig", "alg": row.alg})
        cache[row.kid] = key
    return key


def describe(session: Session) -> list[dict[str, Any]]:
    """Rows for `hub key list`."""
    return [{"kid": r.kid, "alg": r.alg, "state": r.state, "created_at": r.created_at,
             "activated_at": r.activated_at, "retired_at": r.retired_at, "remove_after": r.remove_after}
            for r in session.scalars(select(SigningKey).order_by(SigningKey.id))]
