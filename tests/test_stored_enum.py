"""States are StrEnums held as members (hub/models/types.py StoredEnum), stored as their plain values."""
from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from hub.models import DeliveryStatus, EventType, MailStatus, OrgPolicy, User, UserStatus
from hub.models.idp import KeyState


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """A session on the migrated database, in a transaction rolled back afterwards."""
    engine = create_engine(database_url)
    with engine.connect() as connection:
        transaction = connection.begin()
        yield Session(connection)
        transaction.rollback()
    engine.dispose()


def test_a_state_is_stored_as_its_value_and_read_back_as_its_member(session: Session) -> None:
    user = User(email="stored-enum@example.org", status=UserStatus.PENDING)
    session.add(user)
    session.flush()
    raw = session.execute(text("SELECT status FROM users WHERE id = :id"), {"id": user.id}).scalar_one()
    assert raw == "pending" and type(raw) is str
    session.expire_all()
    assert session.get(User, user.id).status is UserStatus.PENDING  # type: ignore[union-attr]
    assert session.scalar(select(func.count()).select_from(User).where(
        User.id == user.id, User.status == UserStatus.PENDING)) == 1


def test_a_value_that_is_no_member_is_refused_before_the_query(session: Session) -> None:
    user = User(email="stored-enum-2@example.org")
    session.add(user)
    session.flush()
    with pytest.raises(StatementError, match="'suspended' is not a valid UserStatus"):
        session.execute(update(User).where(User.id == user.id).values(status="suspended"))


@pytest.mark.parametrize("member", [UserStatus.DISABLED, OrgPolicy.CLOSED, DeliveryStatus.SENT,
                                    EventType.COURSE_COMPLETED, MailStatus.FAILED, KeyState.RETIRED])
def test_a_member_prints_formats_and_serialises_as_its_value(member: UserStatus) -> None:
    assert str(member) == f"{member}" == "%s" % member == member.value  # noqa: UP031 (logging formats with %)
    assert json.dumps({"state": member}) == json.dumps({"state": member.value})
