"""db.commit_together on a real SQLite file: writers of one process share commits, and one bad write fails alone."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import Connection, event, text

from hub import db


@pytest.fixture
def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = db.make_engine(f"sqlite:///{tmp_path / 'group.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))
    yield engine
    engine.dispose()


def insert(note_id: int, pause: float = 0.0):  # type: ignore[no-untyped-def]
    def work(connection: Connection) -> int:
        connection.execute(text("INSERT INTO notes (id, body) VALUES (:id, 'x')"), {"id": note_id})
        time.sleep(pause)  # holds the writer slot, so the writers behind it gather into one group
        return note_id
    return work


def stored(engine) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return [row[0] for row in connection.execute(text("SELECT id FROM notes ORDER BY id"))]


def run_all(engine, works) -> dict[int, object]:  # type: ignore[no-untyped-def]
    """Each work from its own thread, the first given a head start; returns index -> result or exception."""
    outcomes: dict[int, object] = {}

    def call(index: int, work) -> None:  # type: ignore[no-untyped-def]
        try:
            outcomes[index] = db.commit_together(engine, work)
        except Exception as exc:  # noqa: BLE001  (the outcome under test)
            outcomes[index] = exc

    threads = [threading.Thread(target=call, args=(i, w)) for i, w in enumerate(works)]
    threads[0].start()
    time.sleep(0.05)
    for thread in threads[1:]:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


def test_writers_waiting_for_the_slot_commit_together_and_each_gets_its_own_result(engine) -> None:  # type: ignore[no-untyped-def]
    commits: list[int] = []
    event.listen(engine, "commit", lambda _connection: commits.append(1))
    outcomes = run_all(engine, [insert(1, pause=0.3)] + [insert(n) for n in range(2, 12)])
    assert outcomes == {i: i + 1 for i in range(11)}
    assert stored(engine) == list(range(1, 12))
    assert len(commits) <= 3, f"{len(commits)} commits for 11 writers: they did not group"


def test_one_failing_write_fails_alone_and_the_rest_of_its_group_is_stored(engine) -> None:  # type: ignore[no-untyped-def]
    db.commit_together(engine, insert(5))
    outcomes = run_all(engine, [insert(1, pause=0.3), insert(2), insert(5), insert(3)])  # 5 is taken already
    assert outcomes[0] == 1 and outcomes[1] == 2 and outcomes[3] == 3
    assert isinstance(outcomes[2], sqlalchemy.exc.IntegrityError)
    assert stored(engine) == [1, 2, 3, 5]


def test_a_write_that_raises_stores_nothing(engine) -> None:  # type: ignore[no-untyped-def]
    def broken(connection: Connection) -> None:
        connection.execute(text("INSERT INTO notes (id, body) VALUES (7, 'x')"))
        raise ValueError("changed my mind")

    with pytest.raises(ValueError, match="changed my mind"):
        db.commit_together(engine, broken)
    assert stored(engine) == []
