"""X bills every post (a post with a URL far more): an organisation's monthly budget holds the posts past it until the
next month, and a rule can post without the link. End to end: signed LMS events in, a real worker, tweepy posting
to the X sandbox over HTTP, the budget set with `hub org set`."""
from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from hub import jobs
from hub.cli import main
from hub.models import Connection, Consent, Delivery, DeliveryStatus, Organisation, PostingSpend, Rule, User
from hub.sharing import budgets, rules
from providers.posting_sandbox import issue_token
from providers.x.publish import POST_PRICE, POST_WITH_LINK_PRICE
from tests.clock import MovableClock, movable_clock
from tests.live import LiveHub
from tests.webhooks.helpers import COMPLETED, add_source, send

X_USER = "1427384956271038465"
LINK = COMPLETED["course"]["url"]


def _learner_on_x(live: LiveHub, *, without_link: bool = False) -> int:
    """An organisation whose learner connected X and said "always", with an x:me rule; returns the org id."""
    live.add_provider("x")
    vault = live.app.extensions["vault"]
    token = issue_token(live.sandboxes["x"], X_USER, "tweet.read tweet.write users.read offline.access")
    with live.context() as session:
        org = Organisation(name="Partner Co")
        session.add(org)
        session.flush()
        user = User(email="ada@partner.example", email_verified=True, name="Ada Lovelace", org_id=org.id)
        session.add(user)
        session.flush()
        row = Connection(kind="x", user_id=user.id, remote_id=X_USER, scopes=[], tokens_sealed="")
        row.tokens_sealed = vault.seal(json.dumps({"access_token": token}), row.seal_context)
        session.add_all([row, Consent(user_id=user.id, destination_kind="x", choice="always", text_version="v1")])
        rules.add_rule(session, org_id=org.id, event_type="course.completed", destination="x:me",
                       without_link=without_link)
        session.commit()
        return org.id


def _deliveries(live: LiveHub) -> list[Delivery]:
    with live.context() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def _cli(live: LiveHub, *args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=live.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def _next_month(clock: MovableClock) -> None:
    """Move the hub's clock a minute into the next month (UTC)."""
    now = clock.now()
    clock.advance(seconds=(budgets.next_month(now) - now + timedelta(minutes=1)).total_seconds())


def test_posts_past_the_monthly_budget_are_held_with_the_reason_and_go_out_next_month(live: LiveHub) -> None:
    clock = movable_clock(live.app)
    _learner_on_x(live)
    shown = _cli(live, "org", "set", "Partner Co", "--x-monthly-budget", "0.45")
    assert "X monthly budget $0.45" in shown, shown
    secret = add_source(live)
    for n in range(3):  # three completions with the course link: $0.20 each at X
        assert send(live, secret, COMPLETED, msg_id=f"msg_budget_{n}").status_code in (200, 202, 204)
    jobs.run_worker(live.app, burst=True)

    tweets = live.sandboxes["x"].tweets
    assert len(tweets) == 2 and all(LINK in t["text"] for t in tweets), tweets
    first, second, third = _deliveries(live)
    assert [first.status, second.status] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    assert first.cost_micros == second.cost_micros == budgets.micros(POST_WITH_LINK_PRICE)
    # Held, not failed: pending, no attempt spent, the reason for admins, due when the next month opens.
    assert third.status == DeliveryStatus.PENDING and third.attempts == 0, (third.status, third.last_error)
    assert third.last_error and third.last_error.startswith("X monthly budget of $0.45 reached"), third.last_error
    opens = budgets.next_month(clock.now())
    assert third.next_attempt_at is not None and third.next_attempt_at.replace(tzinfo=opens.tzinfo) == opens
    listed = json.loads(_cli(live, "delivery", "list", "--json"))
    assert {row["status"] for row in listed} == {"sent", "pending"} and {row["cost"] for row in listed} == {"$0.20"}

    jobs.run_worker(live.app, burst=True)  # still this month: nothing more goes out
    assert len(live.sandboxes["x"].tweets) == 2

    _next_month(clock)
    jobs.run_worker(live.app, burst=True)  # the dispatcher finds it due; it fits the new month's budget
    assert len(live.sandboxes["x"].tweets) == 3
    assert _deliveries(live)[2].status == DeliveryStatus.SENT
    with live.context() as session:
        spend = {row.month: (row.spent_micros, row.posts) for row in session.scalars(select(PostingSpend))}
    assert sorted(spend.values()) == [(200_000, 1), (400_000, 2)], spend
    # What X billed (the sandbox's own price list) is what the hub counted against the budgets.
    billed = sum(price for _, price in live.sandboxes["x"].billed)
    assert budgets.micros(billed) == sum(spent for spent, _ in spend.values()) == 600_000


def test_raising_the_budget_releases_the_held_posts_at_once(live: LiveHub) -> None:
    movable_clock(live.app)
    _learner_on_x(live)
    _cli(live, "org", "set", "Partner Co", "--monthly-budget", "x=0.10")  # less than one post with a link
    send(live, add_source(live), COMPLETED, msg_id="msg_raise")
    jobs.run_worker(live.app, burst=True)
    [held] = _deliveries(live)
    assert held.status == DeliveryStatus.PENDING and "monthly budget of $0.10 reached" in (held.last_error or "")
    assert live.sandboxes["x"].tweets == []

    shown = _cli(live, "org", "set", "Partner Co", "--x-monthly-budget", "none")
    assert "removed" in shown and "1 held posts due again" in shown, shown
    jobs.run_worker(live.app, burst=True)
    assert len(live.sandboxes["x"].tweets) == 1 and _deliveries(live)[0].status == DeliveryStatus.SENT


def test_a_rule_without_the_link_posts_the_text_alone_at_the_lower_price(live: LiveHub) -> None:
    _learner_on_x(live, without_link=True)
    send(live, add_source(live), COMPLETED, msg_id="msg_plain")
    jobs.run_worker(live.app, burst=True)
    [tweet] = live.sandboxes["x"].tweets
    assert COMPLETED["course"]["title"] in tweet["text"]
    assert LINK not in tweet["text"] and "http" not in tweet["text"], tweet["text"]
    [row] = _deliveries(live)
    assert row.status == DeliveryStatus.SENT and row.cost_micros == budgets.micros(POST_PRICE)
    assert [budgets.micros(price) for _, price in live.sandboxes["x"].billed] == [row.cost_micros]


def test_budgets_are_only_for_networks_that_bill_posts_and_bad_amounts_change_nothing(live: LiveHub) -> None:
    _learner_on_x(live)
    for args, words in ((("--slack-monthly-budget", "5"), "does not bill posts"),
                        (("--x-monthly-budget", "lots"), "must be an amount of US dollars"),
                        (("--x-monthly-budget", "-1"), "between 0 and"),
                        (("--monthly-budget", "x"), "KIND=USD")):
        result = CliRunner().invoke(main, ["org", "set", "Partner Co", *args], env=live.env)
        assert result.exit_code != 0 and words in result.output, (args, result.output)
    listed = json.loads(_cli(live, "org", "list", "--json"))
    assert listed[0]["monthly_budgets"] == {}
    _cli(live, "org", "set", "Partner Co", "--x-monthly-budget", "$12.5")
    assert json.loads(_cli(live, "org", "list", "--json"))[0]["monthly_budgets"] == {"x": "$12.50"}


def test_rule_add_and_preview_say_what_a_post_costs(live: LiveHub) -> None:
    _learner_on_x(live)
    result = CliRunner().invoke(main, ["rule", "add", "--org", "Partner Co", "--on", "badge.awarded", "--to", "x:me",
                                       "--without-link"], env=live.env)
    assert result.exit_code == 0, result.output
    assert "cost: $0.015 a post on X (without a link)" in result.stderr and "note: X bills" in result.stderr
    rule_id = result.stdout.split()[1].rstrip(":")
    preview = _cli(live, "rule", "preview", rule_id)
    assert preview.splitlines()[-1] == "cost: $0.015 a post on X (without a link)" and "http" not in preview
    with live.context() as session:
        linked = session.scalar(select(Rule).where(Rule.without_link.is_(False)))
        assert linked is not None
        linked_id = str(linked.id)
    assert _cli(live, "rule", "preview", linked_id).splitlines()[-1] == "cost: $0.20 a post on X (with a link)"
    free = CliRunner().invoke(main, ["rule", "add", "--org", "Partner Co", "--on", "badge.awarded", "--to",
                                     "slack:#wins"], env=live.env)
    assert free.exit_code == 0 and "cost:" not in free.stderr
