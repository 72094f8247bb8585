"""Consent rules the sender and planner rely on: always/ask/never, per-delivery confirmation, naming, saving."""
from __future__ import annotations

import pytest

from hub import audit, db
from hub.models import Consent
from hub.sharing import consent
from tests.sharing.conftest import World


def check(world: World, kind: str, delivery_id: int | None = None) -> bool:
    with world.app.app_context():
        return consent.allows(db.session(), world.user_id, kind, delivery_id)


def confirm(world: World, delivery_id: int, user_id: int | None = None) -> None:
    with world.app.app_context():
        audit.record(consent.CONFIRMED, "success", user_id=user_id or world.user_id,
                     reason=consent.confirmation_reason(delivery_id))


def test_no_row_never_allows(world: World) -> None:
    assert not check(world, "linkedin") and not check(world, "linkedin", 1)


def test_always_allows_and_never_refuses_even_a_confirmed_post(world: World) -> None:
    world.consent("linkedin", "always")
    assert check(world, "linkedin")
    confirm(world, 7)
    world.consent("linkedin", "never")
    assert not check(world, "linkedin", 7)


def test_ask_allows_only_the_delivery_the_learner_confirmed(world: World) -> None:
    world.consent("linkedin", "ask")
    assert not check(world, "linkedin") and not check(world, "linkedin", 7)
    confirm(world, 7, user_id=world.user_id + 1000)  # someone else's confirmation counts for nothing
    assert not check(world, "linkedin", 7)
    confirm(world, 7)
    assert check(world, "linkedin", 7) and not check(world, "linkedin", 8)


def test_save_records_the_wording_version_and_refuses_a_bad_choice(world: World) -> None:
    with world.app.app_context(), db.transaction() as session:
        assert consent.save(session, world.user_id, "x", "ask", True)
        assert not consent.save(session, world.user_id, "x", "ask", True)  # nothing changed
        assert consent.save(session, world.user_id, "slack", None, True)
        with pytest.raises(ValueError, match="choice for linkedin"):
            consent.save(session, world.user_id, "linkedin", "sometimes", False)
        with pytest.raises(ValueError, match="kind 'myspace'"):
            consent.save(session, world.user_id, "myspace", "always", False)
    with world.app.app_context():
        rows = {c.destination_kind: c for c in db.session().query(Consent).filter_by(user_id=world.user_id)}
        assert rows["x"].choice == "ask" and not rows["x"].name_in_org_posts  # X is never an org channel
        assert rows["slack"].choice == "never" and rows["slack"].name_in_org_posts
        assert {r.text_version for r in rows.values()} == {consent.TEXT_VERSION}
        assert consent.names_allowed(db.session(), world.user_id, "slack")
        prefs = {p.kind: p for p in consent.preferences(db.session(), world.user_id)}
        assert prefs["x"].choice == "ask" and prefs["linkedin"].choice is None and prefs["slack"].choice is None
        assert prefs["slack"].updated_at and prefs["teams"].updated_at is None


def test_withdraw_all_clears_every_kind(world: World) -> None:
    world.consent("linkedin", "always")
    world.consent("slack", "never", name_in_org_posts=True)
    with world.app.app_context(), db.transaction() as session:
        consent.withdraw_all(session, world.user_id)
    with world.app.app_context():
        session = db.session()
        assert not consent.allows(session, world.user_id, "linkedin")
        assert not consent.names_allowed(session, world.user_id, "slack")
        assert {p.choice for p in consent.preferences(session, world.user_id) if p.asks_choice} == {"never"}
