"""Sharing pages: rules (add with a live preview) and the deliveries outbox (status, errors, retry).

Organisation admins see and add only their organisations' rules, and see and retry only their deliveries; a rule
for every organisation is hub-level."""
from __future__ import annotations

import re
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy import select

from hub import db
from hub.admin import bp
from hub.admin.access import console_required, new_org, reach, reachable
from hub.admin.common import done, paginate, whole
from hub.errors import HubError
from hub.models import Delivery, DeliveryStatus, EventType, Organisation, Rule
from hub.sharing import budgets, digests, dispatch, outbox, rules, templates

DELIVERIES_PAGE_SIZE = 50
# add_rule and templates speak the CLI's language ("--to ... must look like"); these map a message to its field.
FIELD_OF_MESSAGE = (("--on", "event_type"), ("--to", "destination"), ("--mode", "mode"),
                    ("--max-delay", "max_delay"), ("--template", "template"), ("template", "template"))
FIELDS = ("org", "event_type", "destination", "mode", "max_delay", "template", "courses", "badges")
MODE_CHOICES = (("immediate", "Immediate: one post per event"), ("hourly", "Hourly digest"),
                ("daily", "Daily digest"), ("automatic", "Automatic: immediate, folded into a digest in a burst"))


def field_error(message: str) -> tuple[str, str]:
    """(field, message) for an add_rule/template error; the CLI's flag names stay out of the form."""
    for prefix, field in FIELD_OF_MESSAGE:
        if message.startswith(prefix):
            text = message[2:] if prefix.startswith("--") else message
            return field, text[:1].upper() + text[1:]
    return "form", message


def ids(text: str) -> list[str]:
    """Course or badge ids typed separated by commas or spaces."""
    return [part for part in re.split(r"[\s,]+", text) if part]


def _orgs() -> list[tuple[str, str]]:
    """The organisation choices: every organisation ('*', hub-level) and each one within reach."""
    mine = reach()
    names = db.session().execute(select(Organisation.id, Organisation.name).where(mine.where(Organisation.id))
                                 .order_by(Organisation.name)).all()
    every = [("*", "Every organisation")] if mine.everything else []
    return every + [(str(org_id), name) for org_id, name in names]


def _rules_page(form: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                preview: str | None = None, status: int = 200, cost: str | None = None) -> Any:
    mine = reach()
    names = dict(db.session().execute(select(Organisation.id, Organisation.name)
                                      .where(mine.where(Organisation.id))).all())
    rows = list(db.session().scalars(select(Rule).where(mine.where(Rule.org_id)).order_by(Rule.id)))
    orgs = _orgs()
    return render_template("admin/rules.html", rows=rows, org_names=names, orgs=orgs,
                           event_types=[(t, t) for t in EventType],
                           form=form or {"org": orgs[0][0] if orgs else "*",
                                         "event_type": EventType.COURSE_COMPLETED, "mode": "immediate"},
                           modes=MODE_CHOICES, errors=errors or {}, preview=preview, cost=cost,
                           kinds=rules.destination_kinds()), status


@bp.get("/rules")
@console_required
def rules_page() -> Any:
    return _rules_page()


def _org_id(value: str) -> int | None:
    """'*' for every organisation (hub-level), else the id of an existing one within reach (404 beyond it); raises
    InvalidRule naming the field."""
    typed = None if value == "*" else whole(value)
    if value != "*" and typed is None:
        raise rules.InvalidRule("organisation: choose one from the list")
    chosen = new_org(typed)  # an organisation admin's '*' is their organisation
    if chosen is None:
        return None
    org = db.session().get(Organisation, chosen)
    if org is None:
        raise rules.InvalidRule("organisation: choose one from the list")
    return org.id


@bp.post("/rules")
@console_required
def rule_add() -> Any:
    """Preview the message, or add the rule; errors go back beside their fields and nothing is stored."""
    form = {field: request.form.get(field, "").strip() for field in FIELDS}
    form["template"] = request.form.get("template", "")
    form["without_link"] = "1" if request.form.get("without_link") else ""
    template = form["template"] if form["template"].strip() else None
    errors: dict[str, str] = {}
    if not form["destination"]:
        errors["destination"] = "Destination is required, e.g. slack:#wins or linkedin:me"
    try:
        org_id = _org_id(form["org"])
    except rules.InvalidRule as exc:
        errors["org"], org_id = str(exc)[:1].upper() + str(exc)[1:], None
    max_delay = None
    if form["max_delay"]:
        if form["max_delay"].isdigit():
            max_delay = int(form["max_delay"])
        else:
            errors["max_delay"] = "Max delay is a whole number of seconds, e.g. 600"
    if request.form.get("action") == "preview":
        return _preview(form, template, errors)
    if not errors:
        try:
            with db.transaction() as session:
                added = rules.add_rule(session, org_id=org_id, event_type=form["event_type"],
                                       destination=form["destination"], template=template,
                                       mode=form["mode"] or "immediate", max_delay_seconds=max_delay,
                                       courses=ids(form["courses"]), badges=ids(form["badges"]),
                                       without_link=bool(form["without_link"]))
        except HubError as exc:
            field, text = field_error(str(exc))
            errors[field] = text
    if errors:
        done("rule.add", "The rule was not saved: correct the fields marked below.", outcome="failure",
             reason="invalid", detail={"errors": errors}, org_id=org_id)
        return _rules_page(form, errors, status=400)
    note = rules.admin_note(added.destination)
    done("rule.add", f"Rule {added.id} saved: {added.event_type} → {added.destination}." + (f" Note: {note}." if note
                                                                                             else ""),
         detail={"rule": added.id, "org": form["org"], "on": added.event_type, "to": added.destination},
         org_id=added.org_id)
    return redirect(url_for("admin.rules_page"), 303)


def _preview(form: dict[str, str], template: str | None, errors: dict[str, str]) -> Any:
    """The post the rule would make on a sample event, in the voice its destination uses; stores nothing."""
    own = False
    if form["destination"] and "destination" not in errors:
        try:
            own = rules.parse_destination(form["destination"]).on_learner_account
        except rules.InvalidRule as exc:
            errors["destination"] = field_error(str(exc))[1]
    text = cost = None
    without_link = bool(form.get("without_link"))
    if form["event_type"] not in set(EventType):
        errors["event_type"] = "Choose an event type from the list"
    else:
        try:
            text = templates.preview(template, form["event_type"], own_account=own, without_link=without_link)
            if "destination" not in errors and form["destination"]:
                cost = rules.cost_note(form["destination"], template, form["event_type"], without_link)
            if form["mode"] in rules.DIGEST_MODES and not own:  # what the channel sees: the digest
                text = f"{digests.sample(form['mode'], form['event_type'])} (a digest; one event alone: {text})"
        except templates.InvalidTemplate as exc:
            errors["template"] = field_error(str(exc))[1]
    return _rules_page(form, errors, preview=text, status=200 if text is not None else 400, cost=cost)


@bp.get("/deliveries")
@console_required
def deliveries() -> Any:
    status = request.args.get("status", "")
    query = select(Delivery).where(reach().where(Delivery.org_id)).order_by(Delivery.id.desc())
    if status in set(DeliveryStatus):
        query = query.where(Delivery.status == status)
    else:
        status = ""
    page = paginate(db.session(), query, DELIVERIES_PAGE_SIZE)
    return render_template("admin/deliveries.html", page=page, status=status,
                           statuses=list(DeliveryStatus), retryable=outbox.RETRYABLE, usd=budgets.usd)


@bp.post("/deliveries/<int:delivery_id>/retry")
@console_required
def delivery_retry(delivery_id: int) -> Any:
    """Send a dead, unknown or failed delivery again, as `hub delivery retry` does."""
    org_id = reachable(Delivery, delivery_id).org_id
    try:
        with db.transaction() as session:
            outbox.retry(session, delivery_id)
    except HubError as exc:
        done("delivery.retry", f"Not retried: {exc}.", outcome="failure", reason="refused",
             detail={"delivery": delivery_id}, org_id=org_id)
    else:
        queued = dispatch.dispatch(db.session(), [delivery_id])
        done("delivery.retry", f"Delivery {delivery_id} is pending again" +
             ("." if queued else " (the queue is down: the reconciler will send it)."),
             detail={"delivery": delivery_id}, org_id=org_id)
    status = request.form.get("status") or None  # back to the filtered list the button was on
    return redirect(url_for("admin.deliveries", status=status), 303)
