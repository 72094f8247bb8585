"""/share: the learner's "ask each time" page (preview, edit, Post) and their sharing preferences."""
from __future__ import annotations

from typing import Any, cast

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import CursorResult, select, update

from hub import audit, db
from hub.auth.sessions import current_user, login_required
from hub.models import Connection, Delivery, DeliveryStatus, Event
from hub.sharing import connect, consent, dispatch, templates
from hub.sharing.rules import InvalidRule, parse_destination
from providers.registry import SHARE_INTENTS, share_intent

bp = Blueprint("share", __name__, url_prefix="/share")
S = DeliveryStatus
# A learner may confirm a post that is waiting for them (skipped by the sender, or not yet looked at).
POSTABLE = (S.PENDING, S.SKIPPED)


@bp.app_context_processor
def _sharing_globals() -> dict[str, Any]:
    """account/_sharing.html reads the learner's preferences through this (the account view stays unaware)."""
    return {"sharing_preferences": lambda user_id: consent.preferences(db.session(), user_id),
            "sharing_text_version": consent.TEXT_VERSION}


@bp.post("/preferences")
@login_required
def save_preferences() -> Any:
    """Save every kind's choice at once; "Withdraw all" sets never and no naming everywhere."""
    user = current_user()
    assert user is not None
    try:
        with db.transaction() as session:
            if request.form.get("withdraw_all"):
                consent.withdraw_all(session, user.id)
                changed = list(consent.PREFERENCE_KINDS)
            else:
                changed = [kind for kind in consent.PREFERENCE_KINDS
                           if consent.save(session, user.id, kind, request.form.get(f"choice-{kind}"),
                                           request.form.get(f"name-{kind}") == "on")]
    except ValueError as exc:
        flash(f"Sharing preferences not saved: {exc}.", "error")
        return redirect(url_for("account.overview") + "#sharing"), 303
    if changed:
        audit.record("sharing_consent", "success", user_id=user.id, actor=user.email,
                     detail={"kinds": changed, "text_version": consent.TEXT_VERSION,
                             "withdraw_all": bool(request.form.get("withdraw_all"))})
    flash("Sharing preferences saved." if changed else "Nothing changed.", "success")
    return redirect(url_for("account.overview") + "#sharing"), 303


def _own_delivery(delivery_id: int) -> Delivery:
    """The signed-in learner's delivery to one of their own accounts; anything else is 404 (never 403: no probing)."""
    user = current_user()
    assert user is not None
    row = db.session().get(Delivery, delivery_id)
    if row is None or row.user_id != user.id:
        abort(404)
    try:
        destination = parse_destination(row.destination)
    except InvalidRule:
        abort(404)
    if not destination.on_learner_account:
        abort(404)
    return row


def _page(row: Delivery, text: str | None = None, error: str | None = None, status: int = 200) -> Any:
    user = current_user()
    assert user is not None
    session = db.session()
    kind = parse_destination(row.destination).kind
    event = session.get(Event, row.event_id) if row.event_id else None
    context = templates.context_for(event.type if event and event.type else "", (event.payload if event else None)
                                    or {}, "")
    text = row.text or "" if text is None else text
    link = context["link"]
    intent = share_intent(kind, text, link)
    limit = intent.text_limit if intent else templates.MAX_TEXT
    connected = set(session.scalars(select(Connection.kind).where(Connection.user_id == user.id)))
    intents = [found for other in SHARE_INTENTS if other not in connected
               and (found := share_intent(other, text, link)) is not None]
    # Connect, then come back here: the page says whether the destination is connected and offers it if not.
    option = connect.option_for(user, kind)
    connect_url = url_for("connect.begin", kind=kind, next=url_for("share.show", delivery_id=row.id)) \
        if option is not None else None
    return render_template("share.html", row=row, kind=kind, label=intent.label if intent else kind,
                           awaiting=row.last_error == consent.AWAITING_LEARNER, text=text, limit=limit,
                           subject=context["subject"], connect_url=connect_url,
                           connect_label=option.label if option else kind,
                           link=link, intents=intents, connected=kind in connected, error=error,
                           choice=consent.choice_of(session, user.id, kind), postable=row.status in POSTABLE,
                           user=user), status


@bp.get("/<int:delivery_id>")
@login_required
def show(delivery_id: int) -> Any:
    """The preview the LMS links to: the post as it will look, editable, and the networks' own share links."""
    return _page(_own_delivery(delivery_id))


@bp.post("/<int:delivery_id>")
@login_required
def post(delivery_id: int) -> Any:
    """The learner's "Post": record their confirmation and the edited text, then queue it (once)."""
    user = current_user()
    assert user is not None
    row = _own_delivery(delivery_id)
    kind = parse_destination(row.destination).kind
    text = (request.form.get("text") or "").replace("\r\n", "\n").strip()
    intent = share_intent(kind, text, None)
    limit = intent.text_limit if intent else templates.MAX_TEXT
    choice = consent.choice_of(db.session(), user.id, kind)
    if choice not in (consent.Choice.ASK, consent.Choice.ALWAYS):
        return _page(row, text, f"Your sharing preference for {kind} is \"never\" or not set, so nothing was "
                                "posted. Change it on your account page first.", 403)
    if db.session().scalar(select(Connection.id).where(Connection.user_id == user.id, Connection.kind == kind)
                           .limit(1)) is None:
        return _page(row, text, f"Your {kind} account is not connected, so nothing was posted. Connect it first.",
                     409)
    if not text:
        return _page(row, text, "text: the post is empty.", 400)
    if len(text) > limit:
        return _page(row, text, f"text: {len(text)} characters; {kind} takes at most {limit}.", 400)
    with db.transaction() as session:
        won = cast(CursorResult[Any], session.execute(
            update(Delivery).where(Delivery.id == row.id, Delivery.user_id == user.id,
                                   Delivery.status.in_(POSTABLE))
            .values(status=S.PENDING, text=text, last_error=None, next_attempt_at=None, enqueued_at=None)
            .execution_options(synchronize_session=False))).rowcount == 1
        if won:
            audit.record(consent.CONFIRMED, "success", user_id=user.id, actor=user.email, provider=kind,
                         reason=consent.confirmation_reason(row.id), detail={"chars": len(text)}, commit=False)
    if not won:
        session.refresh(row)
        return _page(row, text, f"This post is already {row.status}; nothing was changed.", 409)
    dispatch.dispatch(session, [row.id])  # now rather than at the dispatcher's next pass: the learner is waiting
    flash(f"Queued for posting to {kind}. This page shows when it is out.", "success")
    return redirect(url_for("share.show", delivery_id=row.id)), 303
