"""Sharing rules and deliveries pages over HTTP: access, add with errors beside fields, preview, retry, CSRF."""
from __future__ import annotations

import json
import re

from click.testing import CliRunner
from sqlalchemy import select

from hub.cli import main
from hub.models import AuditEvent, Delivery, Event, Organisation, Rule, Source, User
from hub.sharing import outbox, planner, rules
from tests.admin.conftest import ADA, signed_in
from tests.live import Browser, LiveHub, csrf_token


def _rule_list(hub: LiveHub) -> list[dict]:
    result = CliRunner().invoke(main, ["rule", "list", "--json"], env=hub.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _org(hub: LiveHub, name: str = "Partners Inc") -> int:
    with hub.context() as session:
        org = Organisation(name=name)
        session.add(org)
        session.commit()
        return org.id


def _dead_delivery(hub: LiveHub) -> int:
    """A rule, an event planned into a delivery by the planner, then one attempt that ended dead."""
    org_id = _org(hub)
    with hub.context() as session:
        user = User(email="learner@partner.example", name="Lin Learner", org_id=org_id)
        source = Source(name="moodle", all_orgs=True)
        session.add_all([user, source])
        session.flush()
        rules.add_rule(session, org_id=org_id, event_type="course.completed", destination="slack:#gone")
        event = Event(source_id=source.id, external_id="evt-1", content_hash="h", type="course.completed",
                      payload={"course": {"id": "101", "title": "Security Basics"}}, user_id=user.id)
        session.add(event)
        session.flush()
        [delivery_id] = planner.plan(session, event)
        session.commit()
        claimed = outbox.claim(session, delivery_id, outbox.Policy())
        assert claimed and outbox.dead(session, delivery_id, claimed.attempt, "channel_not_found")
        return delivery_id


def test_non_admin_gets_403_and_cannot_post(hub: LiveHub) -> None:
    ada = signed_in(hub, ADA)
    for path in ("/admin/rules", "/admin/deliveries"):
        assert ada.get(path).status_code == 403, path
    token = csrf_token(ada.get("/account").text)
    assert ada.post("/admin/rules", data={"csrf_token": token, "org": "*", "event_type": "course.completed",
                                          "destination": "slack:#wins"}).status_code == 403
    assert _rule_list(hub) == []


def test_admin_adds_a_rule_that_the_cli_lists_and_the_audit_log_records(hub: LiveHub, admin: Browser) -> None:
    org_id = _org(hub)
    page = admin.get("/admin/rules")
    assert page.status_code == 200 and 'aria-current="page"' in page.text and "Partners Inc" in page.text
    answer = admin.post("/admin/rules", data={
        "csrf_token": csrf_token(page.text), "org": str(org_id), "event_type": "badge.awarded",
        "destination": "slack:#wins", "template": "{{ learner }} got {{ badge.title }}", "courses": "",
        "badges": "7, 8", "action": "add"})
    assert answer.status_code == 303
    [listed] = _rule_list(hub)
    assert listed["org"] == "Partners Inc" and listed["on"] == "badge.awarded" and listed["to"] == "slack:#wins"
    assert listed["filters"] == {"badges": ["7", "8"]} and listed["template"] == "{{ learner }} got {{ badge.title }}"
    shown = admin.get("/admin/rules").text
    assert "saved: badge.awarded" in shown and 'data-rule="' in shown and "badges: 7, 8" in shown
    with hub.context() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "rule.add")).one()
        assert audit.outcome == "success" and audit.actor == "admin@hub.example"


def test_bad_input_sits_beside_its_field_and_nothing_is_stored(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/rules").text)
    answer = admin.post("/admin/rules", data={"csrf_token": token, "org": "*", "event_type": "course.completed",
                                              "destination": "linkedin:#wins", "template": "Hi", "action": "add"})
    assert answer.status_code == 400
    error = re.search(r'id="rule-destination-error">([^<]*)<', answer.text)
    assert error and "linkedin:me" in error.group(1) and "--to" not in error.group(1)
    assert 'aria-describedby="rule-destination-hint rule-destination-error" aria-invalid="true"' in answer.text
    assert 'value="linkedin:#wins"' in answer.text  # what was typed is kept
    broken = admin.post("/admin/rules", data={"csrf_token": token, "org": "*", "event_type": "course.completed",
                                              "destination": "slack:#wins", "template": "{{ learner ",
                                              "action": "add"})
    assert broken.status_code == 400 and 'id="rule-template-error">Template' in broken.text
    unknown_org = admin.post("/admin/rules", data={"csrf_token": token, "org": "999",
                                                   "event_type": "course.completed", "destination": "slack:#wins"})
    assert unknown_org.status_code == 400 and 'id="rule-org-error">Organisation' in unknown_org.text
    assert _rule_list(hub) == []
    with hub.context() as session:
        assert session.scalar(select(Rule)) is None
        outcomes = session.scalars(select(AuditEvent.outcome).where(AuditEvent.action == "rule.add")).all()
        assert outcomes == ["failure"] * 3


def test_preview_renders_the_template_on_a_sample_event_and_stores_nothing(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/rules").text)
    answer = admin.post("/admin/rules", data={
        "csrf_token": token, "org": "*", "event_type": "course.completed", "destination": "slack:#wins",
        "template": "<b>{{ learner }}</b> finished {{ course.title }}", "action": "preview"})
    assert answer.status_code == 200
    preview = re.search(r'<p class="preview-text">([^<]*)</p>', answer.text)
    assert preview and preview.group(1) == "&lt;b&gt;Ada Lovelace&lt;/b&gt; finished Security Basics"
    # An empty template previews the built-in message, in the learner's voice on their own account.
    own = admin.post("/admin/rules", data={"csrf_token": token, "org": "*", "event_type": "course.completed",
                                           "destination": "linkedin:me", "template": "", "action": "preview"})
    assert "I just completed Security Basics!" in own.text
    assert _rule_list(hub) == []


def test_digest_modes_from_the_form_preview_the_digest_and_refuse_what_cannot_work(hub: LiveHub,
                                                                                    admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/rules").text)
    base = {"csrf_token": token, "org": "*", "event_type": "course.completed", "destination": "slack:#wins",
            "template": ""}
    preview = admin.post("/admin/rules", data={**base, "mode": "daily", "action": "preview"})
    assert "12 learners completed Security Basics today: Ada Lovelace, Alan Turing and 10 others." in preview.text
    refused = admin.post("/admin/rules", data={**base, "destination": "linkedin:me", "mode": "hourly", "action": "add"})
    assert refused.status_code == 400 and 'id="rule-mode-error">Mode hourly: digests go to channels' in refused.text
    bad_delay = admin.post("/admin/rules", data={**base, "mode": "automatic", "max_delay": "soon", "action": "add"})
    assert bad_delay.status_code == 400 and 'id="rule-max_delay-error">Max delay is a whole number' in bad_delay.text
    assert _rule_list(hub) == []
    added = admin.post("/admin/rules", data={**base, "mode": "automatic", "max_delay": "120", "action": "add"})
    assert added.status_code == 303
    [listed] = _rule_list(hub)
    assert (listed["mode"], listed["max_delay"]) == ("automatic", 120)
    assert "(max delay 120 s)" in admin.get("/admin/rules").text


def test_deliveries_show_a_planned_dead_delivery_and_retry_makes_it_pending(hub: LiveHub, admin: Browser) -> None:
    delivery_id = _dead_delivery(hub)
    page = admin.get("/admin/deliveries?status=dead")
    assert page.status_code == 200
    row = re.search(rf'<tr data-delivery="{delivery_id}" data-status="dead">(.*?)</tr>', page.text, re.DOTALL)
    assert row and "slack:#gone" in row.group(1) and "channel_not_found" in row.group(1)
    assert "Retry" in row.group(1)
    assert "No deliveries match." in admin.get("/admin/deliveries?status=sent").text
    answer = admin.post(f"/admin/deliveries/{delivery_id}/retry",
                        data={"csrf_token": csrf_token(page.text), "status": "dead"})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/admin/deliveries?status=dead")
    with hub.context() as session:
        row_after = session.get(Delivery, delivery_id)
        assert row_after.status == "pending" and row_after.attempts == 0
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "delivery.retry")).one()
        assert audit.outcome == "success" and audit.detail == {"delivery": delivery_id}
    shown = admin.get("/admin/deliveries").text
    assert f"Delivery {delivery_id} is pending again" in shown
    assert re.search(rf'data-delivery="{delivery_id}" data-status="pending"', shown)
    # A pending delivery cannot be retried: refused, flashed and audited as a failure.
    again = admin.post(f"/admin/deliveries/{delivery_id}/retry", data={"csrf_token": csrf_token(shown)})
    assert again.status_code == 303
    assert "only dead, unknown, failed can be retried" in admin.get("/admin/deliveries").text


def test_remote_url_is_a_safe_link(hub: LiveHub, admin: Browser) -> None:
    delivery_id = _dead_delivery(hub)
    with hub.context() as session:
        session.get(Delivery, delivery_id).remote_url = "https://provider.test/p1"
        session.commit()
    page = admin.get("/admin/deliveries").text
    assert '<a href="https://provider.test/p1" rel="noopener noreferrer"' in page


def test_retry_and_rule_add_need_the_csrf_token(hub: LiveHub, admin: Browser) -> None:
    delivery_id = _dead_delivery(hub)
    refused = admin.post(f"/admin/deliveries/{delivery_id}/retry", data={})
    assert refused.status_code == 400 and "Form expired" in refused.text
    refused = admin.post("/admin/rules", data={"org": "*", "event_type": "course.completed",
                                               "destination": "slack:#wins"})
    assert refused.status_code == 400
    with hub.context() as session:
        assert session.get(Delivery, delivery_id).status == "dead"
        assert len(list(session.scalars(select(Rule)))) == 1  # only the one _dead_delivery made
