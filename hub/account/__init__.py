"""/account: the signed-in user's identities, linking, unlinking, signing out everywhere, deleting the account."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, url_for

from hub import audit, db, provider_store
from hub.auth.sessions import current_user, end_all_sessions, login_required, sign_out
from hub.models import Identity

bp = Blueprint("account", __name__, url_prefix="/account")


@bp.get("")
@login_required
def overview() -> str:
    user = current_user()
    assert user is not None
    linked = {identity.provider for identity in user.identities}
    linkable = [(row, provider_store.brand_of(row)) for row in provider_store.linkable(db.session())
                if row.name not in linked]
    brands = {identity.provider: provider_store.brand_by_name(db.session(), identity.provider)
              for identity in user.identities}
    return render_template("account.html", user=user, linkable=linkable, brands=brands)


@bp.post("/identities/<int:identity_id>/unlink")
@login_required
def unlink(identity_id: int) -> Any:
    """Remove a linked sign-in, never the last way in."""
    user = current_user()
    assert user is not None
    identity = db.session().get(Identity, identity_id)
    if identity is None or identity.user_id != user.id:
        flash("That sign-in is not linked to your account.", "error")
        return redirect(url_for("account.overview")), 303
    if len(user.identities) <= 1:
        flash("You can't unlink your only way to sign in.", "error")
        return redirect(url_for("account.overview")), 303
    provider = identity.provider
    with db.transaction() as session_db:
        session_db.delete(identity)
    audit.record("unlink", "success", user_id=user.id, actor=user.email, provider=provider)
    flash(f"Unlinked {provider}.", "success")
    return redirect(url_for("account.overview")), 303


@bp.post("/sign-out-everywhere")
@login_required
def sign_out_everywhere() -> Any:
    """End every session of this user at once, this browser's and every other (hub.auth.sessions)."""
    user = current_user()
    assert user is not None
    with db.transaction() as session_db:
        end_all_sessions(session_db, user)
    audit.record("sign_out_everywhere", "success", user_id=user.id, actor=user.email)
    sign_out()
    flash("You were signed out on every device.", "success")
    return redirect(url_for("auth.login_page")), 303



from hub.account import delete as _delete  # noqa: E402,F401  (registers /account/delete on bp)
