"""What X bills, shown where admins decide: the rule preview (with and without the link) and the deliveries page,
over HTTP (tests/tenancy/test_network_costs.py tries the page across the wall)."""
from __future__ import annotations

import json
import re

from click.testing import CliRunner

from hub.cli import main
from hub.models import Event, Organisation, Source, User
from hub.sharing import planner, rules
from tests.live import Browser, LiveHub, csrf_token

PREVIEW_COST = re.compile(r'<p class="preview-cost" id="rule-preview-cost">Cost: ([^<]*)</p>')


def _org(hub: LiveHub, name: str = "Partners Inc") -> int:
    with hub.context() as session:
        org = Organisation(name=name)
        session.add(org)
        session.commit()
        return org.id


def planned(hub: LiveHub, org_id: int, destination: str, **rule: bool) -> None:
    """One completion planned into a delivery for a learner of the organisation, by the planner."""
    with hub.context() as session:
        user = User(email=f"lin-{org_id}-{destination.replace(':', '-').strip('#')}@learners.example", name="Lin",
                    org_id=org_id)
        source = session.query(Source).filter_by(name="moodle").one_or_none() or Source(name="moodle", all_orgs=True)
        session.add_all([user, source])
        session.flush()
        rules.add_rule(session, org_id=org_id, event_type="course.completed", destination=destination, **rule)
        event = Event(source_id=source.id, external_id=f"evt-{org_id}-{destination}", content_hash="h",
                      type="course.completed", user_id=user.id,
                      payload={"course": {"id": "101", "title": "Security Basics", "url": "https://lms.example/c/101"}})
        session.add(event)
        session.flush()
        planner.plan(session, event)
        session.commit()


def test_the_rule_preview_says_what_a_post_costs_with_and_without_the_link(hub: LiveHub, admin: Browser) -> None:
    org_id = _org(hub)
    page = admin.get("/admin/rules")
    base = {"csrf_token": csrf_token(page.text), "org": str(org_id), "event_type": "course.completed",
            "template": "", "mode": "immediate", "action": "preview"}
    linked = admin.post("/admin/rules", data={**base, "destination": "x:me"})
    assert linked.status_code == 200
    assert PREVIEW_COST.findall(linked.text) == ["$0.20 a post on X (with a link)"]
    plain = admin.post("/admin/rules", data={**base, "destination": "x:me", "without_link": "1"})
    assert PREVIEW_COST.findall(plain.text) == ["$0.015 a post on X (without a link)"]
    assert 'name="without_link" value="1"' in plain.text and "checked" in plain.text
    free = admin.post("/admin/rules", data={**base, "destination": "slack:#wins"})
    assert free.status_code == 200 and PREVIEW_COST.findall(free.text) == []

    added = admin.post("/admin/rules", data={**base, "destination": "x:me", "without_link": "1", "action": "add"})
    assert added.status_code == 303
    listed = json.loads(CliRunner().invoke(main, ["rule", "list", "--json"], env=hub.env).output)
    assert [(r["to"], r["without_link"]) for r in listed] == [("x:me", True)]
    assert "(without the link)" in admin.get("/admin/rules").text


def test_a_template_that_writes_the_url_into_a_link_free_rule_is_refused_beside_its_field(
        hub: LiveHub, admin: Browser) -> None:
    org_id = _org(hub)
    page = admin.get("/admin/rules")
    answer = admin.post("/admin/rules", data={
        "csrf_token": csrf_token(page.text), "org": str(org_id), "event_type": "course.completed",
        "destination": "x:me", "template": "Done: {{ course.url }}", "mode": "immediate", "without_link": "1",
        "action": "add"})
    assert answer.status_code == 400 and "posts without the link" in answer.text
    assert json.loads(CliRunner().invoke(main, ["rule", "list", "--json"], env=hub.env).output) == []


def test_the_deliveries_page_shows_each_posts_cost(hub: LiveHub, admin: Browser) -> None:
    org_id = _org(hub)
    planned(hub, org_id, "x:me")
    planned(hub, _org(hub, "Plain Co"), "x:me", without_link=True)
    planned(hub, org_id, "slack:#wins")
    page = admin.get("/admin/deliveries")
    assert page.status_code == 200
    costs = re.findall(r'<td class="cost">([^<]*)</td>', page.text)
    # Partners Inc's second event matches its x:me rule too: two X posts with the link, one free Slack post.
    assert sorted(costs) == ["$0.015", "$0.20", "$0.20", "—"], costs


def test_the_organisation_page_shows_its_budgets_and_the_months_spend(hub: LiveHub, admin: Browser) -> None:
    org_id = _org(hub)
    assert "none" in re.search(r'<dd id="org-budgets">(.*?)</dd>', admin.get(f"/admin/orgs/{org_id}").text).group(1)
    result = CliRunner().invoke(main, ["org", "set", "Partners Inc", "--x-monthly-budget", "50"], env=hub.env)
    assert result.exit_code == 0, result.output
    shown = re.search(r'<dd id="org-budgets">(.*?)</dd>', admin.get(f"/admin/orgs/{org_id}").text).group(1)
    assert re.fullmatch(r'<span data-network="X">X: \$0\.00 of \$50\.00 spent in \d{4}-\d{2}</span>', shown), shown
