"""The migrations build exactly the schema the models describe (on SQLite, or PostgreSQL when configured)."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from hub.models import Base


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_0009_marks_mail_already_sent_as_sent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Mail sent before the outbox had a status is `sent`; the rest is `pending`, for the worker's flush."""
    from sqlalchemy import text

    from hub import db

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    db.upgrade(url, "0008")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO mail_outbox (\"to\", subject, body, created_at, sent_at) VALUES "
                                "('a@x.example', 's', 'b', '2026-01-01', '2026-01-01'), "
                                "('b@x.example', 's', 'b', '2026-01-01', NULL)"))
    db.upgrade(url, "0009")
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT \"to\", status, attempts FROM mail_outbox ORDER BY id")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("a@x.example", "sent", 0), ("b@x.example", "pending", 0)]


def test_0010_starts_the_grace_period_of_users_already_disabled_at_the_migration(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A user disabled before 0010 has no disabled_at to count from: the migration's time is used, so setting an
    erase-after period later never erases them at once; active users have none; organisations get the guard's
    defaults (10 %, 5 users) and no grace period."""
    from sqlalchemy import text

    from hub import db

    url = f"sqlite:///{tmp_path / 'hub.db'}"
    db.upgrade(url, "0009")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO organisations (name, policy, created_at) VALUES ('Acme', 'open', "
                                "'2026-01-01')"))
        connection.execute(text(
            "INSERT INTO users (email, email_verified, status, is_admin, groups, session_epoch, email_from_scim, "
            "created_at) VALUES ('gone@x.example', 0, 'disabled', 0, '[]', 0, 0, '2026-01-01'), "
            "('here@x.example', 0, 'active', 0, '[]', 0, 0, '2026-01-01')"))
    db.upgrade(url, "0010")
    with engine.connect() as connection:
        users = connection.execute(text("SELECT email, disabled_at IS NOT NULL FROM users ORDER BY id")).all()
        org = connection.execute(text("SELECT erase_after_days, guard_share, guard_min FROM organisations")).one()
    engine.dispose()
    assert [tuple(r) for r in users] == [("gone@x.example", 1), ("here@x.example", 0)]
    assert tuple(org) == (None, 10, 5)
