"""Digest rules: held deliveries fold into one post per group, delivered exactly once, naming only who allowed it."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from hub import db, jobs
from hub.models import Delivery, Event, User
from hub.sharing import digests, dispatch, rules
from hub.sharing.outbox import utcnow
from tests.sharing.conftest import World, work_in_own_process
from tests.sharing.test_delivery import expire_leases

NAMES = ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Katherine Johnson")


def learners(world: World, count: int) -> list[int]:
    """The world's learner plus more of the same organisation."""
    ids = [world.user_id]
    with world.app.app_context(), db.transaction() as session:
        for index in range(1, count):
            user = User(email=f"learner{index}@partner.example", name=NAMES[index % len(NAMES)], org_id=world.org_id)
            session.add(user)
            session.flush()
            ids.append(user.id)
    return ids


def complete(world: World, user_ids: list[int], course: str = "Security Basics", prefix: str = "evt") -> None:
    """One course.completed event per learner, planned as the dispatcher plans it."""
    payload = {"course": {"id": course.lower().replace(" ", "-"), "title": course,
                          "url": f"https://lms.example.edu/{course.lower().replace(' ', '-')}"}}
    with world.app.app_context(), db.transaction() as session:
        for index, user_id in enumerate(user_ids):
            session.add(Event(source_id=world.source_id, external_id=f"{prefix}-{index}-{user_id}", content_hash="h",
                              type="course.completed", payload=payload, user_id=user_id))
    with world.app.app_context():
        while dispatch.plan_new(db.session()):
            pass


def statuses(world: World) -> dict[str, int]:
    with world.app.app_context():
        counts: dict[str, int] = {}
        for row in db.session().scalars(select(Delivery)):
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts


def digest_rows(world: World) -> list[Delivery]:
    with world.app.app_context():
        return [d for d in db.session().scalars(select(Delivery).order_by(Delivery.id)) if d.is_digest]


def fold_at(world: World, moment: datetime) -> list[int]:
    with world.app.app_context():
        return digests.fold_due(db.session(), moment)


def test_hourly_digest_folds_the_hour_into_one_post_naming_only_who_allowed_it(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins", mode="hourly")
    people = learners(world, 3)
    world.consent("slack", "never", name_in_org_posts=True)  # Ada allows her name in org channels; the others don't
    complete(world, people)
    assert statuses(world) == {"held": 3}
    with world.app.app_context():
        held = db.session().scalars(select(Delivery)).all()
        assert {d.next_attempt_at.replace(tzinfo=UTC) for d in held} == {
            digests.due_at("hourly", utcnow(), None)}  # the end of this hour
    assert fold_at(world, utcnow()) == []  # not due yet
    [digest_id] = fold_at(world, utcnow() + timedelta(hours=1))
    assert fold_at(world, utcnow() + timedelta(hours=1)) == []  # folded once
    assert statuses(world) == {"folded": 3, "pending": 1}
    jobs.run_worker(world.app, burst=True)
    jobs.run_worker(world.app, burst=True)  # a second worker run finds nothing more to send
    [post] = world.provider.posts()
    assert post["text"] == "3 learners completed Security Basics this hour: Ada Lovelace and 2 others."
    assert post["link"] == "https://lms.example.edu/security-basics" and post["address"] == "#wins"
    [digest] = digest_rows(world)
    assert digest.id == digest_id and digest.status == "sent" and digest.remote_url == "https://provider.test/p1"
    with world.app.app_context():
        members = db.session().scalars(select(Delivery).where(Delivery.digest_id == digest_id)).all()
        assert len(members) == 3 and {m.status for m in members} == {"folded"}


def test_a_digest_of_several_courses_lists_each_and_links_to_none(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins", mode="daily")
    people = learners(world, 3)
    complete(world, people[:2], "Security Basics", prefix="a")
    complete(world, people[2:], "Cloud Basics", prefix="b")
    fold_at(world, utcnow() + timedelta(days=1))
    jobs.run_worker(world.app, burst=True)
    [post] = world.provider.posts()
    assert post["text"] == "2 learners completed Security Basics today.\n1 learner completed Cloud Basics today."
    assert post["link"] is None


def test_automatic_goes_immediate_until_the_backlog_passes_the_delay_then_folds(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins", mode="automatic", max_delay_seconds=30)  # Slack: 1 post per second per channel
    complete(world, learners(world, 40))
    # Each post waits behind those planned before it: the 31st would wait 30 s, so from the 32nd on, they are held.
    assert statuses(world) == {"pending": 31, "held": 9}
    assert fold_at(world, utcnow()) == []
    [digest_id] = fold_at(world, utcnow() + timedelta(seconds=31))
    assert statuses(world) == {"pending": 32, "folded": 9}
    with world.app.app_context():
        assert jobs.deliver(digest_id) == "sent"
        assert jobs.deliver(digest_id) == "done"  # a replayed job posts nothing more
    [post] = world.provider.posts()
    assert post["text"].startswith("9 learners completed Security Basics recently")


def test_a_worker_killed_after_the_digest_was_posted_is_found_not_reposted(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#crash-after", mode="hourly")
    complete(world, learners(world, 2))
    fold_at(world, utcnow() + timedelta(hours=1))
    assert work_in_own_process(world.app) == 1  # the worker dies right after the provider stored the digest
    [digest] = digest_rows(world)
    assert digest.status == "sending"
    expire_leases(world)
    with world.app.app_context():
        from hub.sharing import reconciler

        assert reconciler.reconcile(db.session()).recovered == 1
    [digest] = digest_rows(world)
    assert digest.status == "sent" and len(world.provider.posts()) == 1


def test_members_disabled_or_erased_before_the_send_are_counted_out(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins", mode="hourly")
    people = learners(world, 3)
    complete(world, people)
    fold_at(world, utcnow() + timedelta(hours=1))
    with world.app.app_context(), db.transaction() as session:
        session.delete(session.get(User, people[1]))  # erased after the fold, before the send
    jobs.run_worker(world.app, burst=True)
    [post] = world.provider.posts()
    assert post["text"] == "2 learners completed Security Basics this hour."


def test_a_digest_whose_members_are_all_gone_is_skipped(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins", mode="hourly")
    people = learners(world, 2)
    complete(world, people)
    [digest_id] = fold_at(world, utcnow() + timedelta(hours=1))
    with world.app.app_context(), db.transaction() as session:
        for user_id in people:
            session.delete(session.get(User, user_id))
    with world.app.app_context():
        assert jobs.deliver(digest_id) == "skipped"
    assert world.provider.posts() == []
    assert digest_rows(world)[0].last_error == "nobody left in this digest"


def test_due_times() -> None:
    moment = datetime(2026, 12, 1, 16, 42, 7, tzinfo=UTC)
    assert digests.due_at("hourly", moment, None) == datetime(2026, 12, 1, 17, tzinfo=UTC)
    assert digests.due_at("daily", moment, None) == datetime(2026, 12, 2, tzinfo=UTC)
    assert digests.due_at("automatic", moment, 90) == moment + timedelta(seconds=90)
    assert digests.due_at("automatic", moment, None) == moment + timedelta(seconds=digests.DEFAULT_MAX_DELAY)


@pytest.mark.parametrize(("destination", "mode", "max_delay", "message"), [
    ("linkedin:me", "hourly", None, "--mode hourly: digests go to channels"),
    ("x:me", "automatic", None, "--mode automatic: digests go to channels"),
    ("slack:#wins", "hourly", 60, "--max-delay applies to --mode automatic only"),
    ("slack:#wins", "automatic", 5, "--max-delay must be between 30 and"),
    ("slack:#wins", "weekly", None, "--mode 'weekly' must be one of"),
])
def test_digest_rules_refuse_what_cannot_work(world: World, destination: str, mode: str, max_delay: int | None,
                                              message: str) -> None:
    with world.app.app_context(), pytest.raises(rules.InvalidRule, match=message.replace("(", r"\(")):
        rules.add_rule(db.session(), org_id=world.org_id, event_type="course.completed", destination=destination,
                       mode=mode, max_delay_seconds=max_delay)


def test_automatic_rules_get_the_default_delay(world: World) -> None:
    with world.app.app_context():
        rule = rules.add_rule(db.session(), org_id=world.org_id, event_type="course.completed",
                              destination="slack:#wins", mode="automatic")
        assert rule.max_delay_seconds == digests.DEFAULT_MAX_DELAY
        db.session().rollback()
