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
