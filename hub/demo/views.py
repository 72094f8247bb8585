"""Demo-only pages (HUB_SANDBOXES=1): the mailbox, since the demo sends no real mail, and a sample LMS homepage.

The LMS page sends its events the way an external LMS does: signed with the demo source's `whsec_` secret
(Standard Webhooks, the same `sign` the verifier checks) and POSTed over HTTP to the hub's own
/webhooks/lms/<source>. Posting happens later in the worker, so the page links to where posts appear.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import requests
from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from hub import audit, db, demo, sources
from hub.auth.sessions import current_user
from hub.errors import HubError
from hub.models import Delivery, Event, EventType, MailMessage, Source, User
from providers.base import DEFAULT_TIMEOUT
from webhooks.signature import sign

bp = Blueprint("demo", __name__, url_prefix="/demo")
log = logging.getLogger(__name__)

# What the button can say happened, and the item each event type carries besides the course.
LMS_EVENTS = ((EventType.COURSE_COMPLETED, "Completed the course", None),
              (EventType.COURSE_ENROLLED, "Enrolled in the course", None),
              (EventType.BADGE_AWARDED, "Earned the course's badge", "badge"),
              (EventType.CERTIFICATE_ISSUED, "Received the course's certificate", "certificate"))
TITLE_LIMIT = 300  # an event item's title (docs/events.md)


@bp.get("/mailbox")
def mailbox() -> str:
    """What the hub would have mailed, newest first (one-time confirmation links live here in the demo)."""
    messages = db.session().scalars(select(MailMessage).order_by(MailMessage.id.desc()).limit(50))
    return render_template("demo/mailbox.html", messages=list(messages))


@bp.get("/lms")
def lms() -> Any:
    """The sample LMS homepage: complete a course (a signed event to the hub) and see where the posts appear."""
    last = _receipt(request.args.get("sent", ""))
    return _lms_page(last, {"title": last.get("title") or "Security Basics",
                            "type": last.get("type") or EventType.COURSE_COMPLETED,
                            "learner": last.get("learner") or demo.LEARNERS[0][1]})


@bp.get("/lms/home")
def lms_home() -> Any:
    """The sample LMS homepage with the tiles embedded as an LMS theme embeds them: a script tag and <hub-tile>."""
    from hub.tiles import store

    tiles = store.visible_to(db.session(), None)  # what an anonymous visitor of the LMS page sees
    mounted = {**current_app.extensions.get("sandboxes", {}), **current_app.extensions.get("posting_sandboxes", {})}
    views = [{"network": network, "url": f"/sandbox/{kind}{path}"}
             for kind, sandbox in mounted.items() if (view := getattr(sandbox, "posts_view", None))
             for path, network, _shows in [view]]
    return render_template("demo/lms_home.html", tiles=tiles, views=views,
                           hub=current_app.extensions["settings"].base_url)


@bp.post("/lms")
def lms_send() -> Any:
    """Sign the event with the demo source's secret and POST it to the hub's webhook, as an external LMS would."""
    form = {name: request.form.get(name, "").strip() for name in ("title", "type", "learner")}
    errors: dict[str, str] = {}
    if not form["title"]:
        errors["title"] = "Type the course's title, e.g. Security Basics."
    elif len(form["title"]) > TITLE_LIMIT:
        errors["title"] = f"A course title is at most {TITLE_LIMIT} characters."
    if form["type"] not in {value for value, _label, _item in LMS_EVENTS}:
        errors["type"] = "Choose what happened from the list."
    learner = _learner(form["learner"])
    if learner is None:
        errors["learner"] = "Choose a learner from the list."
    if errors:
        return _lms_page({}, form, errors, 400)
    assert learner is not None
    webhook_id = f"msg_demo_{uuid.uuid4().hex}"  # an LMS keeps one id per event, the same on every retry
    url = f"{current_app.extensions['settings'].base_url}/webhooks/lms/{demo.LMS_SOURCE}"
    try:
        answer = post_signed(url, _demo_secret(), webhook_id, lms_event(form["type"], form["title"], learner))
    except HubError as exc:
        flash(f"The event was not sent: {exc}.", "error")
        return redirect(url_for("demo.lms"), 303)
    except requests.RequestException as exc:
        ref = audit.new_ref()
        log.warning("demo LMS event not sent ref=%s: %s", ref, type(exc).__name__)
        flash(f"The event was not sent: the hub did not answer at {url}. Check that HUB_BASE_URL is this server's "
              f"address. Reference {ref}.", "error")
        return redirect(url_for("demo.lms"), 303)
    body = _json(answer)
    sent = {"status": answer.status_code, "event_id": body.get("id"), "webhook_id": webhook_id, "type": form["type"],
            "title": form["title"], "learner": form["learner"], "learner_name": learner.name or learner.email}
    if answer.status_code in (200, 202):
        flash(f"The hub answered {answer.status_code}: event {body.get('id')} is stored and its deliveries are "
              "planned. The worker posts them shortly.", "success")
    else:
        flash(f"The hub refused the event ({answer.status_code}): {body.get('message') or answer.reason}.", "error")
    return redirect(url_for("demo.lms", sent=_receipts().dumps(sent)), 303)


def lms_event(event_type: str, title: str, learner: User) -> dict[str, Any]:
    """The JSON an LMS sends when this happens (docs/events.md); the course links back to this page."""
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "course"
    link = current_app.extensions["settings"].base_url + url_for("demo.lms", course=slug)
    payload: dict[str, Any] = {
        "type": event_type,
        "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "user": {"email": learner.email, **({"name": learner.name[:200]} if learner.name else {})},
        "course": {"id": f"demo-{slug}", "title": title, "url": link},
    }
    item = next(item for value, _label, item in LMS_EVENTS if value == event_type)
    if item:
        payload[item] = {"id": f"demo-{slug}-{item}", "title": f"{title[:TITLE_LIMIT - 12]} {item}", "url": link}
    return payload


def post_signed(url: str, secret: str, webhook_id: str, payload: dict[str, Any]) -> requests.Response:
    """POST one event with the three Standard Webhooks headers, signed as webhooks/signature.py verifies."""
    body = json.dumps(payload).encode()
    timestamp = int(time.time())
    with requests.Session() as http:
        http.trust_env = False  # the hub's own address: never through a proxy from the environment
        return http.post(url, data=body, timeout=DEFAULT_TIMEOUT,
                         verify=current_app.extensions["settings"].ca_bundle or True, headers={
                             "content-type": "application/json",
                             "webhook-id": webhook_id,
                             "webhook-timestamp": str(timestamp),
                             "webhook-signature": sign(secret, webhook_id, timestamp, body),
                         })


def _demo_secret() -> str:
    """The demo source's newest secret, the one an LMS would be configured with."""
    source = db.session().scalar(select(Source).where(Source.name == demo.LMS_SOURCE))
    secrets = sources.webhook_secrets(current_app.extensions["vault"], source) if source is not None else []
    if not secrets:
        raise HubError(f"the source {demo.LMS_SOURCE!r} is missing; `hub demo` adds it when it starts")
    return secrets[0]


def _learner(choice: str) -> User | None:
    """The signed-in user (with an email), else the seeded demo learner chosen in the form."""
    me = current_user()
    if me is not None and me.email:
        return me
    if choice not in {email for _name, email in demo.LEARNERS}:
        return None
    return db.session().scalar(select(User).where(User.email == choice, User.email_verified.is_(True)))


def _receipts() -> URLSafeSerializer:
    """Signs the answer the redirect carries: the page shows only what this browser sent; the session stays as is."""
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="demo-lms-sent")


def _receipt(signed: str) -> dict[str, Any]:
    try:
        loaded = _receipts().loads(signed) if signed else {}
    except BadSignature:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _lms_page(last: dict[str, Any], form: dict[str, str], errors: dict[str, str] | None = None,
              status: int = 200) -> Any:
    me = current_user()
    learners = [(user.email, f"{user.name} ({user.email})") for user in db.session().scalars(
        select(User).where(User.email.in_([email for _name, email in demo.LEARNERS])).order_by(User.name))]
    deliveries, planned = [], True
    if last.get("event_id"):
        event = db.session().get(Event, last["event_id"])
        planned = event is None or event.planned_at is not None  # the dispatcher plans a moment after the 2xx
        deliveries = list(db.session().scalars(select(Delivery).where(Delivery.event_id == last["event_id"])
                                               .order_by(Delivery.id)))
    mounted = {**current_app.extensions.get("sandboxes", {}), **current_app.extensions.get("posting_sandboxes", {})}
    # Each sandbox declares its own page of posts (providers/<kind>/sandbox.py `posts_view`).
    views = [{"network": network, "shows": shows, "url": f"/sandbox/{kind}{path}"}
             for kind, sandbox in mounted.items() if (view := getattr(sandbox, "posts_view", None))
             for path, network, shows in [view]]
    return render_template("demo/lms.html", form=form, errors=errors or {}, me=me if me and me.email else None,
                           learners=learners, events=[(value, label) for value, label, _item in LMS_EVENTS],
                           last=last, deliveries=deliveries, planned=planned, views=views, source=demo.LMS_SOURCE,
                           rule=f"{demo.SHARING_KIND}:{demo.SHARING_CHANNEL}"), status


def _json(answer: requests.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}

