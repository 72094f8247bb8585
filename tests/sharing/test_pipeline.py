"""Sending one delivery is hub.sharing.sender.STEPS: each decision made once per attempt (consent read once)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select

from hub import db, jobs
from hub.models import Delivery
from hub.sharing import consent, sender
from tests.sharing.conftest import World


@contextmanager
def consent_reads(world: World) -> Iterator[list[str]]:
    """The statements that read the learner's consent while the block runs (on the app's real engine)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT") and "FROM consents" in statement:
            seen.append(statement)

    engine = world.app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def run(world: World, delivery_id: int) -> tuple[str, Delivery]:
    with world.app.app_context():
        outcome = jobs.deliver(delivery_id)
        return outcome, db.session().scalars(select(Delivery).where(Delivery.id == delivery_id)).one()


def test_the_steps_are_the_ones_the_docs_name_in_order() -> None:
    assert [step.__name__ for step in sender.STEPS] == [
        "load_learner", "refuse_gone_learner", "check_consent", "render_post", "find_connection", "take_limit",
        "reserve_budget", "publish", "record_sent"]


def test_ask_each_time_is_refused_with_one_read_of_the_learners_answer(world: World) -> None:
    world.connect("linkedin", learner=True)
    world.consent("linkedin", "ask")
    world.rule("linkedin:me")
    _, ids = world.event()
    with consent_reads(world) as reads:
        outcome, row = run(world, ids[0])
    assert outcome == "skipped" and row.last_error == consent.AWAITING_LEARNER
    assert len(reads) == 1, reads


def test_never_is_refused_with_one_read_and_says_why(world: World) -> None:
    world.connect("x", learner=True)
    world.consent("x", "always")
    world.rule("x:me")
    _, ids = world.event()
    world.consent("x", "never")  # withdrawn between plan and send
    with consent_reads(world) as reads:
        outcome, row = run(world, ids[0])
    assert outcome == "skipped" and row.last_error == "no consent to post automatically on the learner's x account"
    assert len(reads) == 1, reads
    assert world.provider.posts() == []


def test_a_name_withdrawn_is_read_once_and_the_post_goes_out_without_it(world: World) -> None:
    world.connect("slack", learner=False)
    world.consent("slack", "never", name_in_org_posts=True)
    world.rule("slack:#wins")
    _, ids = world.event()
    world.consent("slack", "never", name_in_org_posts=False)
    with consent_reads(world) as reads:
        outcome, _row = run(world, ids[0])
    assert outcome == "sent" and len(reads) == 1, reads
    assert world.provider.posts()[0]["text"] == "A learner completed Security Basics! 🎉"


def test_an_org_post_that_names_nobody_reads_no_consent(world: World) -> None:
    world.connect("slack", learner=False)
    world.rule("slack:#wins")
    _, ids = world.event()  # planned without the name: the learner never allowed it
    with consent_reads(world) as reads:
        outcome, _row = run(world, ids[0])
    assert outcome == "sent" and reads == []
