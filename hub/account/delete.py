"""/account/delete: a user erases their own account (GDPR art. 17) after a confirmation they have to type.

The page says what goes and what stays; the POST is CSRF-protected (CSRFProtect answers 400 without the token), and
only an exact confirmation (the account's email, or the tick box for an account without one) reaches
`hub.deprovision.erase`, the same erasure an admin, the CLI or SCIM run. The session ends with it.
"""
from __future__ import annotations

from typing import Any

from flask import redirect, render_template, request, url_for

from hub import db, deprovision
from hub.account import bp
from hub.auth.sessions import current_user, login_required, sign_out
from hub.models import User


def _confirmation_error(user: User, form: Any) -> str | None:
    """Why the confirmation does not hold, in words for the page; None when it does."""
    if user.email:
        typed = str(form.get("confirm_email", "")).strip()
        if not typed:
            return "Type your email address to confirm."
        if typed.lower() != user.email.lower():
            return "That is not your account's email address. Nothing was deleted."
        return None
    if form.get("confirm") != "yes":
        return "Tick the box to confirm. Nothing was deleted."
    return None


@bp.get("/delete")
@login_required
def delete_page() -> str:
    """What deleting the account removes, and the confirmation."""
    user = current_user()
    assert user is not None
    return render_template("account/delete.html", user=user, error=None, typed="")


@bp.post("/delete")
@login_required
def delete_account() -> Any:
    """Erase the signed-in user once confirmed; a wrong confirmation changes nothing and says why."""
    user = current_user()
    assert user is not None
    error = _confirmation_error(user, request.form)
    if error is not None:
        typed = str(request.form.get("confirm_email", ""))[:320]
        return render_template("account/delete.html", user=user, error=error, typed=typed), 422
    with db.transaction() as session:
        # The actor is the user themself: erase records it under the pseudonym, never the address.
        deprovision.erase(session, user, actor=user.email or f"user:{user.id}")
    sign_out()
    return redirect(url_for("account.deleted"), 303)


@bp.get("/deleted")
def deleted() -> str:
    """The goodbye page: shown to anyone (the session is gone by now), it names nobody."""
    return render_template("account/deleted.html")
