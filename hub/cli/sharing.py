"""`hub rule`, `hub delivery`, `hub event`, `hub reconcile`: what LMS events are shared where, and how it went."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from sqlalchemy import select

from hub.cli.common import ROW_ID, Names, admin, emit
from hub.errors import HubError
from hub.models import DeliveryStatus, EventType


def _rule_modes() -> Iterable[str]:
    from hub.sharing import rules

    return rules.MODES


def _plan_statuses() -> Iterable[str]:
    from hub.sharing import events

    return [status.value for status in events.PlanStatus]


@click.group()
def rule() -> None:
    """Sharing rules: which events go where, with what message."""


@rule.command("add")
@click.option("--org", "org_name", required=True, help="Organisation name, or '*' for every organisation.")
@click.option("--on", "event_type", required=True, type=Names(EventType, "an event type"),
              help="The event type that triggers the post.")
@click.option("--to", "destination", required=True, help="slack:#wins, yammer:123, teams:https://..., linkedin:me, "
              "x:me, webhook:https://...")
@click.option("--template", "template_file", type=click.File("r", encoding="utf-8"),
              help="A Jinja template file for the message (sandboxed); default: the built-in one.")
@click.option("--mode", type=Names(_rule_modes, "a rule mode"), default="immediate",
              show_default=True, help="immediate: one post per event; hourly/daily: one digest per period; "
              "automatic: immediate until the channel's backlog passes --max-delay, then folded into a digest.")
@click.option("--max-delay", "max_delay", type=int, default=None,
              help="automatic mode: seconds a post may wait behind the destination's backlog (default 600).")
@click.option("--course", "courses", multiple=True, help="Only these course ids (repeatable).")
@click.option("--badge", "badges", multiple=True, help="Only these badge ids (repeatable).")
@click.option("--without-link", is_flag=True, help="Post the message without the event's link (X bills a post with a "
              "URL far more than one without).")
@admin
def rule_add(org_name: str, event_type: str, destination: str, template_file: Any, mode: str,
             max_delay: int | None, courses: tuple[str, ...], badges: tuple[str, ...], without_link: bool) -> None:
    """Add a sharing rule."""
    from hub import audit, db, orgs
    from hub.sharing import rules

    with db.transaction() as session:
        org_id = None if org_name == "*" else orgs.find_org(session, org_name).id
        added = rules.add_rule(session, org_id=org_id, event_type=event_type, destination=destination,
                               template=template_file.read() if template_file else None, mode=mode,
                               courses=courses, badges=badges, max_delay_seconds=max_delay,
                               without_link=without_link)
    audit.record("rule.add", "success", actor="cli",
                 detail={"rule": added.id, "org": org_name, "on": event_type, "to": added.destination,
                         "without_link": without_link})
    note = rules.admin_note(added.destination)
    if note:
        click.echo(f"note: {note}", err=True)
    cost = rules.cost_note(added.destination, added.template, event_type, without_link)
    if cost:
        click.echo(f"cost: {cost}", err=True)
    click.echo(f"rule {added.id}: {event_type} -> {added.destination} ({mode})")


@rule.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def rule_list(as_json: bool) -> None:
    """List sharing rules."""
    from hub import db
    from hub.models import Organisation, Rule

    names = dict(db.session().execute(select(Organisation.id, Organisation.name)).all())
    rows = [{"id": r.id, "org": names.get(r.org_id, "*") if r.org_id else "*", "on": r.event_type,
             "to": r.destination, "mode": r.mode, "max_delay": r.max_delay_seconds, "enabled": r.enabled,
             "filters": r.filters, "template": r.template, "without_link": r.without_link}
            for r in db.session().scalars(select(Rule).order_by(Rule.id))]
    emit(rows, as_json, ["id", "org", "on", "to", "mode", "enabled", "filters"])


@rule.command("preview")
@click.argument("rule_id", type=ROW_ID)
@admin
def rule_preview(rule_id: int) -> None:
    """Show the message a rule would post, on a sample event."""
    from hub import db
    from hub.models import Rule
    from hub.sharing import rules, templates

    found = db.session().get(Rule, rule_id)
    if found is None:
        raise HubError(f"no rule with id {rule_id}")
    own = rules.parse_destination(found.destination).on_learner_account
    click.echo(templates.preview(found.template, found.event_type, own_account=own, without_link=found.without_link))
    cost = rules.cost_note(found.destination, found.template, found.event_type, found.without_link)
    if cost:
        click.echo(f"cost: {cost}")


@click.group()
def delivery() -> None:
    """The outbox of posts."""


def _delivery_row(d: Any) -> dict[str, Any]:
    from hub.sharing import budgets

    return {"id": d.id, "event": d.event_id, "rule": d.rule_id, "destination": d.destination, "status": d.status,
            "cost": budgets.usd(d.cost_micros) if d.cost_micros is not None else None,
            "attempts": d.attempts, "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
            "last_error": d.last_error, "remote_url": d.remote_url, "digest": d.digest_id}


@delivery.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=Names(DeliveryStatus, "a delivery status"))
@click.option("--limit", default=200, show_default=True, type=int)
@admin
def delivery_list(as_json: bool, status: str | None, limit: int) -> None:
    """Deliveries, newest first: status, attempts, next attempt, last error, remote URL."""
    from hub import db
    from hub.models import Delivery

    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status:
        query = query.where(Delivery.status == status)
    rows = [_delivery_row(d) for d in db.session().scalars(query)]
    emit(rows, as_json, ["id", "event", "rule", "destination", "status", "cost", "attempts", "next_attempt_at",
                         "last_error", "remote_url", "digest"])


@delivery.command("retry")
@click.argument("delivery_id", type=ROW_ID)
@admin
def delivery_retry(delivery_id: int) -> None:
    """Send a dead, unknown or failed delivery again (now, with fresh attempts)."""
    from hub import audit, db
    from hub.sharing import dispatch, outbox

    with db.transaction() as session:
        outbox.retry(session, delivery_id)
    queued = dispatch.dispatch(db.session(), [delivery_id])
    audit.record("delivery.retry", "success", actor="cli", detail={"delivery": delivery_id})
    click.echo(f"delivery {delivery_id} pending" + ("" if queued else " (Redis is down: the reconciler will send it)"))


@click.command("reconcile")
@admin
def reconcile_command() -> None:
    """Re-enqueue deliveries whose job was lost and look up crashed sends, once (workers do it every minute)."""
    from hub import db
    from hub.sharing import reconciler

    report = reconciler.reconcile(db.session())
    click.echo(f"enqueued {report.enqueued}, recovered {report.recovered}")


@click.group("event")
def event_group() -> None:
    """Stored LMS events and whether they were planned into deliveries."""


@event_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=Names(_plan_statuses, "an event planning status"))
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10000))
@admin
def event_list(as_json: bool, status: str | None, limit: int) -> None:
    """Events, newest first: planning status, failed attempts, next attempt, last error (never the payload)."""
    from hub import db
    from hub.sharing import events

    rows = events.listing(db.session(), events.PlanStatus(status) if status else None, limit)
    emit(rows, as_json, ["id", "source", "external_id", "type", "status", "received_at", "plan_attempts",
                         "next_plan_at", "plan_error"])


@event_group.command("replan")
@click.argument("event_id", type=ROW_ID)
@admin
def event_replan(event_id: int) -> None:
    """Plan a failed event again (due now, with fresh attempts): the dispatcher plans it on its next pass."""
    from hub import audit, db
    from hub.sharing import events

    with db.transaction() as session:
        events.replan(session, event_id)
    audit.record("event.replan", "success", actor="cli", detail={"event_id": event_id})
    click.echo(f"event {event_id} pending: a worker's dispatcher plans it on its next pass")


COMMANDS = (rule, delivery, reconcile_command, event_group)
