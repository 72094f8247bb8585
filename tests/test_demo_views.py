"""The demo LMS page over real HTTP: it signs an event as an LMS would, and the hub stores and plans it."""
from __future__ import annotations

import requests
from sqlalchemy import select

from hub import db, demo, jobs
from hub.models import Delivery, Event, Source, User
from hub.sharing import dispatch
from tests.live import Browser, LiveHub, csrf_token

ADA_SUB = "110169484474386276334"  # the Google sandbox's Ada (ada@partner.example)


def _send(browser: Browser, **fields: str) -> requests.Response:
    page = browser.get("/demo/lms")
    assert page.status_code == 200, page.text
    return browser.post("/demo/lms", data={"csrf_token": csrf_token(page.text), **fields})


def _events(live: LiveHub) -> list[Event]:
    with live.context() as session:
        return list(session.scalars(select(Event).order_by(Event.id)))


def test_completing_a_course_sends_a_signed_event_that_is_stored_and_planned(live: LiveHub) -> None:
    demo.seed(live.app, {"*": live.url})
    browser = Browser(live)
    page = browser.get("/demo/lms").text
    assert "Grace Hopper (grace@partner.example)" in page and 'action="/demo/lms"' in page

    answer = _send(browser, learner="grace@partner.example", title="Security Basics", type="course.completed")
    assert answer.status_code == 303 and "/demo/lms?sent=" in answer.headers["Location"]
    before = browser.get(answer.headers["Location"]).text  # shown before the dispatcher's pass
    assert "The hub answered 202" in before and "is matching this event against the sharing rules" in before
    with live.app.app_context():
        dispatch.plan_new(db.session())  # what the demo worker's dispatcher does a moment later
    with live.context() as session:
        [event] = session.scalars(select(Event)).all()
        grace = session.scalar(select(User).where(User.email == "grace@partner.example"))
        assert event.source_id == session.scalar(select(Source.id).where(Source.name == demo.LMS_SOURCE))
        assert event.user_id == grace.id and event.type == "course.completed"
        assert event.external_id.startswith("msg_demo_")  # the webhook-id the page signed
        assert event.payload["course"]["title"] == "Security Basics"
        assert event.payload["course"]["url"] == f"{live.url}/demo/lms?course=security-basics"
        [delivery] = session.scalars(select(Delivery)).all()
        assert (delivery.event_id, delivery.destination, delivery.status) == (event.id, "slack:#wins", "pending")
        assert delivery.text.startswith("Grace Hopper completed Security Basics!")  # seeded: Slack may name her

    shown = browser.get(answer.headers["Location"]).text
    assert 'data-status="202"' in shown
    assert f'id="lms-event-id">{event.id}<' in shown and f'data-delivery="{delivery.id}"' in shown
    for view in ("/admin/deliveries", "/sandbox/slack/posts", "/sandbox/linkedin/feed",
                 "/sandbox/microsoft/yammer/groups", "/sandbox/x/posts"):
        assert f'href="{view}"' in shown, view

    jobs.run_worker(live.app, burst=True)  # the demo's worker posts it
    assert "Grace Hopper completed Security Basics!" in requests.get(f"{live.url}/sandbox/slack/posts", timeout=10).text


def test_a_signed_in_learner_sends_events_about_themselves(live: LiveHub) -> None:
    demo.seed(live.app, {"*": live.url})
    browser = Browser(live)
    browser.sign_in("google", ADA_SUB)
    page = browser.get("/demo/lms").text
    assert "Signed in as" in page and "ada@partner.example" in page and 'name="learner"' not in page
    answer = _send(browser, learner="grace@partner.example", title="Cloud Basics", type="badge.awarded")
    assert answer.status_code == 303
    with live.app.app_context():
        dispatch.plan_new(db.session())
    [event] = _events(live)
    with live.context() as session:
        assert event.user_id == session.scalar(select(User.id).where(User.email == "ada@partner.example"))
        assert session.scalars(select(Delivery)).all() == []  # the sample rule posts completions only
    assert event.type == "badge.awarded" and event.payload["badge"]["title"] == "Cloud Basics badge"
    assert "No rule matched this event" in browser.get(answer.headers["Location"]).text


def test_the_form_needs_its_csrf_token_and_valid_fields(live: LiveHub) -> None:
    demo.seed(live.app, {"*": live.url})
    browser = Browser(live)
    browser.get("/demo/lms")
    refused = browser.post("/demo/lms", data={"learner": "grace@partner.example", "title": "X",
                                              "type": "course.completed"})
    assert refused.status_code == 400 and "Form expired" in refused.text
    invalid = _send(browser, learner="nobody@partner.example", title="  ", type="course.dropped")
    assert invalid.status_code == 400
    assert "Type the course&#39;s title" in invalid.text and "Choose what happened" in invalid.text
    assert "Choose a learner from the list" in invalid.text and 'aria-invalid="true"' in invalid.text
    kept = _send(browser, learner="alan@partner.example", title="A" * 301, type="course.completed")
    assert kept.status_code == 400 and 'value="' + "A" * 301 + '"' in kept.text  # what was typed stays
    assert _events(live) == []
    assert 'id="lms-last"' not in browser.get("/demo/lms?sent=forged").text  # only what the hub signed
