"""POST /webhooks/lms/<source> over real HTTP: signatures, validation, storing once, users, storage down."""
from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from hub import sources
from hub.models import AuditEvent, Event, LmsAccount, User
from tests.clock import frozen_clock, movable_clock
from tests.live import LiveHub
from tests.test_faults import _closed_port
from tests.webhooks.helpers import COMPLETED, add_source, event, events, send


@pytest.fixture
def secret(live: LiveHub) -> str:
    return add_source(live)


def add_user(live: LiveHub, email: str, verified: bool = True) -> int:
    with live.context() as session:
        user = User(email=email, email_verified=verified, name="Ada Lovelace")
        session.add(user)
        session.commit()
        return user.id


# --- a good event -------------------------------------------------------------------------------------
def test_a_signed_event_is_stored_with_its_user(live: LiveHub, secret: str) -> None:
    ada = add_user(live, "ada@partner.example")
    answer = send(live, secret, COMPLETED, msg_id="msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
    assert answer.status_code == 202, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    stored = events(live)
    assert answer.json() == {"id": stored[0].id, "duplicate": False}
    assert len(stored) == 1
    row = stored[0]
    assert row.external_id == "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W" and row.type == "course.completed"
    assert row.user_id == ada
    assert row.payload["course"] == COMPLETED["course"]
    assert utc(row.occurred_at) == datetime(2026, 11, 23, 9, 58, 12, tzinfo=UTC)


def test_occurred_at_is_stored_in_utc(live: LiveHub, secret: str) -> None:
    answer = send(live, secret, event(occurred_at="2026-11-23T10:58:12+01:00"))
    assert answer.status_code == 202
    assert utc(events(live)[0].occurred_at) == datetime(2026, 11, 23, 9, 58, 12, tzinfo=UTC)


def utc(value: datetime | None) -> datetime:
    """SQLite returns naive UTC, PostgreSQL an aware time in the session's zone: compare both as UTC."""
    assert value is not None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@pytest.mark.parametrize("payload", [
    {"type": "course.enrolled", "occurred_at": "2026-11-23T09:00:00+01:00", "user": {"external_id": 1042},
     "course": {"id": 7, "title": "Security Basics", "url": "http://lms.example.edu/course/7"}},
    {"type": "badge.awarded", "occurred_at": "2026-11-23T09:00:00Z", "user": {"email": "ada@partner.example"},
     "badge": {"id": "b-1", "title": "Defender", "url": "https://lms.example.edu/badges/1",
               "image_url": "https://lms.example.edu/badges/1.png"},
     "course": {"id": "SEC-101", "title": "Security Basics", "url": "https://lms.example.edu/course/7"}},
    {"type": "certificate.issued", "occurred_at": "2026-11-23T09:00:00.123Z", "user": {"email": "ada@partner.example"},
     "certificate": {"id": "c-9", "title": "Security Basics certificate", "url": "https://lms.example.edu/cert/9"}},
    {"type": "level.reached", "occurred_at": "2026-11-23T09:00:00Z", "user": {"email": "ada@partner.example"},
     "level": {"number": 5, "name": "Expert"}},
    {"type": "level.reached", "occurred_at": "2026-11-23T09:00:00Z", "user": {"email": "ada@partner.example"},
     "level": {"name": "Novice"}},
])
def test_every_event_type_is_accepted(live: LiveHub, secret: str, payload: dict) -> None:
    answer = send(live, secret, payload)
    assert answer.status_code == 202, answer.text
    assert [e.type for e in events(live)] == [payload["type"]]


def test_the_documented_examples_are_accepted(live: LiveHub, secret: str) -> None:
    """Every JSON example in docs/events.md is a valid event (the docs cannot drift from the schema)."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
    examples = [json.loads(block.split("```", 1)[0]) for block in text.split("```json\n")[1:]]
    examples = [e for e in examples if isinstance(e, dict) and "occurred_at" in e]
    assert {e["type"] for e in examples} == {"course.enrolled", "course.completed", "badge.awarded",
                                              "level.reached", "certificate.issued"}
    for example in examples:
        answer = send(live, secret, example)
        assert answer.status_code == 202, (example["type"], answer.text)


# --- validation: each bad field is named, nothing stored -------------------------------------------------
@pytest.mark.parametrize(("payload", "field"), [
    (event(type="course.started"), "type"),
    ({k: v for k, v in COMPLETED.items() if k != "type"}, "type"),
    (event(occurred_at="yesterday"), "occurred_at"),
    (event(occurred_at="2026-11-23T09:58:12"), "occurred_at"),  # no timezone
    (event(occurred_at=1764000000), "occurred_at"),  # ISO 8601 only
    ({k: v for k, v in COMPLETED.items() if k != "occurred_at"}, "occurred_at"),
    (event(user={}), "user"),
    (event(user={"name": "Ada"}), "user"),
    (event(user={"email": "not-an-email"}), "user.email"),
    (event(user={"email": "ada@partner.example", "external_id": ""}), "user.external_id"),
    (event(user={"email": "ada@partner.example", "external_id": True}), "user.external_id"),
    (event(user={"email": "ada@partner.example", "name": "x" * 201}), "user.name"),
    (event(user="ada@partner.example"), "user"),
    (event(course={**COMPLETED["course"], "url": "ftp://lms.example.edu/c"}), "course.url"),
    (event(course={**COMPLETED["course"], "url": "javascript:alert(1)"}), "course.url"),
    (event(course={**COMPLETED["course"], "url": "https://lms.example.edu/" + "a" * 2000}), "course.url"),
    (event(course={**COMPLETED["course"], "image_url": "data:image/png;base64,AAAA"}), "course.image_url"),
    (event(course={**COMPLETED["course"], "title": " "}), "course.title"),
    (event(course={**COMPLETED["course"], "title": "t" * 301}), "course.title"),
    (event(course={**COMPLETED["course"], "id": None}), "course.id"),
    (event(course={**COMPLETED["course"], "id": "i" * 256}), "course.id"),
    (event(course={k: v for k, v in COMPLETED["course"].items() if k != "title"}), "course.title"),
    (event(course={**COMPLETED["course"], "imageUrl": "https://x.example/a.png"}), "course.imageUrl"),
    (event(course=None), "course"),
    (event(extra=1), "extra"),
    (event(type="badge.awarded"), "badge"),  # a badge event without its badge
    (event(type="level.reached", level={"number": -1}), "level.number"),
    (event(type="level.reached", level={"number": "5"}), "level.number"),
    (event(type="level.reached", level={}), "level"),
])
def test_a_bad_field_is_named_and_nothing_is_stored(live: LiveHub, secret: str, payload: dict, field: str) -> None:
    answer = send(live, secret, payload)
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "invalid_event"
    assert body["field"] == field, body
    assert body["message"].startswith(f"{field}: ")
    assert events(live) == []


@pytest.mark.parametrize("body", [b"not json", b"", b"{\"type\": \"course.completed\""])
def test_a_body_that_is_not_json_is_a_400(live: LiveHub, secret: str, body: bytes) -> None:
    answer = send(live, secret, None, body=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "invalid_json"
    assert events(live) == []


def test_a_json_array_is_not_an_event(live: LiveHub, secret: str) -> None:
    answer = send(live, secret, [COMPLETED])
    assert answer.status_code == 422 and answer.json()["field"] is None
    assert events(live) == []


def test_an_oversized_body_is_refused(live: LiveHub, secret: str) -> None:
    answer = send(live, secret, event(padding="x" * 70000))
    assert answer.status_code == 413 and answer.json()["error"] == "too_large"
    assert events(live) == []


# --- signatures ---------------------------------------------------------------------------------------------
def _flip_one_byte(signature: str) -> str:
    version, _, value = signature.partition(",")
    raw = bytearray(base64.b64decode(value))
    raw[0] ^= 0x01
    return f"{version},{base64.b64encode(bytes(raw)).decode()}"


def test_a_signature_with_one_byte_flipped_is_refused(live: LiveHub, secret: str) -> None:
    from webhooks.signature import sign

    body = json.dumps(COMPLETED).encode()
    now = int(time.time())
    good = sign(secret, "msg_1", now, body)
    answer = send(live, secret, COMPLETED, msg_id="msg_1", timestamp=now, signature=_flip_one_byte(good))
    assert answer.status_code == 401
    assert answer.json()["error"] == "invalid_signature"
    assert events(live) == []
    assert send(live, secret, COMPLETED, msg_id="msg_1", timestamp=now, signature=good).status_code == 202


def test_a_tampered_body_is_refused_before_it_is_parsed(live: LiveHub, secret: str) -> None:
    from webhooks.signature import sign

    body = json.dumps(COMPLETED).encode()
    now = int(time.time())
    signature = sign(secret, "msg_1", now, body)
    tampered = body.replace(b"Security Basics", b"Security Basicz")
    answer = send(live, secret, None, msg_id="msg_1", timestamp=now, body=tampered, signature=signature)
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_signature"
    # Garbage that is not JSON, badly signed, gets 401 (not 400): nothing is parsed before the signature holds.
    assert send(live, secret, None, body=b"{{{", signature=signature).status_code == 401
    # Signed for another id, or another timestamp: refused too.
    assert send(live, secret, None, msg_id="msg_2", timestamp=now, body=body, signature=signature).status_code == 401
    assert send(live, secret, None, msg_id="msg_1", timestamp=now + 1, body=body,
                signature=signature).status_code == 401
    assert events(live) == []


def test_another_sources_secret_does_not_sign_for_this_one(live: LiveHub, secret: str) -> None:
    other = add_source(live, "totara")
    assert send(live, other, COMPLETED).status_code == 401
    assert send(live, other, COMPLETED, source="totara").status_code == 202


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_named(live: LiveHub, secret: str, missing: str) -> None:
    answer = send(live, secret, COMPLETED, headers={missing: None})
    assert answer.status_code == 401
    assert answer.json() == {"error": "missing_header", "message": f"the {missing} header is required"}
    assert events(live) == []


@pytest.mark.parametrize(("headers", "code"), [
    ({"webhook-timestamp": "2026-11-23T10:00:00Z"}, "invalid_header"),
    ({"webhook-timestamp": "-5"}, "invalid_header"),
    ({"webhook-id": "msg\x7f"}, "invalid_header"),
    ({"webhook-id": "m" * 256}, "invalid_header"),
    ({"webhook-signature": "v1,not-base64!!"}, "invalid_signature"),
    ({"webhook-signature": "v2,c2lnbmF0dXJl"}, "invalid_signature"),
])
def test_malformed_headers_are_refused(live: LiveHub, secret: str, headers: dict, code: str) -> None:
    answer = send(live, secret, COMPLETED, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == code
    assert events(live) == []


def test_one_good_signature_among_several_is_enough(live: LiveHub, secret: str) -> None:
    from webhooks.signature import new_secret, sign

    body = json.dumps(COMPLETED).encode()
    now = int(time.time())
    header = f"v1a,ed25519sig {sign(new_secret(), 'msg_1', now, body)} {sign(secret, 'msg_1', now, body)}"
    assert send(live, secret, None, body=body, msg_id="msg_1", timestamp=now, signature=header).status_code == 202


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_outside_five_minutes_is_refused(live: LiveHub, secret: str, skew: int) -> None:
    # The hub's clock stands still: a request slowed by a busy machine cannot move the boundary.
    now = frozen_clock(live.app, datetime.fromtimestamp(int(time.time()), UTC))
    answer = send(live, secret, COMPLETED, timestamp=int(now.at.timestamp()) + skew)
    assert answer.status_code == 401
    assert answer.json()["error"] == "stale_timestamp"
    assert "300 seconds (5 minutes)" in answer.json()["message"]
    assert events(live) == []


@pytest.mark.parametrize("skew", [-290, 290])
def test_a_timestamp_inside_five_minutes_is_accepted(live: LiveHub, secret: str, skew: int) -> None:
    now = frozen_clock(live.app, datetime.fromtimestamp(int(time.time()), UTC))
    assert send(live, secret, COMPLETED, timestamp=int(now.at.timestamp()) + skew).status_code == 202


def test_unknown_and_disabled_sources_look_like_a_bad_signature(live: LiveHub, secret: str) -> None:
    unknown = send(live, secret, COMPLETED, source="nobody")
    with live.context() as session:
        sources.set_enabled(session, "moodle", False)
        session.commit()
    disabled = send(live, secret, COMPLETED)
    wrong = send(live, "whsec_" + base64.b64encode(b"k" * 32).decode(), COMPLETED, source="moodle")
    assert unknown.status_code == disabled.status_code == wrong.status_code == 401
    assert unknown.json() == disabled.json() == wrong.json()
    assert events(live) == []


def test_rotated_secrets_are_all_accepted_until_retired(live: LiveHub, secret: str) -> None:
    vault = live.app.extensions["vault"]
    with live.context() as session:
        newer = sources.rotate_secret(session, vault, "moodle")
        session.commit()
    assert newer != secret
    assert send(live, secret, COMPLETED).status_code == 202
    assert send(live, newer, COMPLETED).status_code == 202
    with live.context() as session:
        assert sources.retire_secrets(session, vault, "moodle") == 1
        session.commit()
    assert send(live, secret, COMPLETED).status_code == 401
    assert send(live, newer, COMPLETED).status_code == 202
    assert len(events(live)) == 3


def test_a_source_changed_by_another_process_is_decided_on_as_it_is_now(live: LiveHub, secret: str) -> None:
    """The receiver keeps sources it has read, but stores only while the source is as it read it: changes made
    elsewhere (here straight in the database, as another hub process would) take effect on the next event."""
    vault = live.app.extensions["vault"]
    assert send(live, secret, COMPLETED).status_code == 202  # read (and kept) by the receiver
    with live.context() as session:
        newer = sources.rotate_secret(session, vault, "moodle")
        session.commit()
    assert send(live, newer, COMPLETED).status_code == 202  # a secret the kept copy does not know
    with live.context() as session:
        sources.retire_secrets(session, vault, "moodle")
        session.commit()
    retired = send(live, secret, COMPLETED)  # the kept copy still lists it: the store must not take it
    assert retired.status_code == 401 and retired.json()["error"] == "invalid_signature"
    with live.context() as session:
        sources.set_enabled(session, "moodle", False)
        session.commit()
    assert send(live, newer, COMPLETED).status_code == 401
    with live.context() as session:
        sources.set_enabled(session, "moodle", True)
        session.commit()
    assert send(live, newer, COMPLETED).status_code == 202
    assert len(events(live)) == 3


def test_the_csrf_check_does_not_apply(live: LiveHub, secret: str) -> None:
    """A browser-style Origin header from elsewhere does not matter: the signature authenticates."""
    answer = send(live, secret, COMPLETED, headers={"Origin": "https://elsewhere.example"})
    assert answer.status_code == 202, answer.text


# --- stored once --------------------------------------------------------------------------------------------
def test_a_repeated_id_is_stored_once_the_same_day_and_two_days_later(live: LiveHub, secret: str) -> None:
    first = send(live, secret, COMPLETED, msg_id="msg_retry")
    assert first.status_code == 202
    again = send(live, secret, COMPLETED, msg_id="msg_retry")
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "duplicate": True}
    clock = movable_clock(live.app)
    clock.advance(days=2)
    # A fresh, valid signature two days on; a timestamp by the unmoved time is stale under the moved clock.
    assert send(live, secret, COMPLETED, msg_id="msg_retry").status_code == 401
    replay = send(live, secret, COMPLETED, msg_id="msg_retry", timestamp=int(clock.now().timestamp()))
    assert replay.status_code == 200, replay.text
    assert replay.json() == {"id": first.json()["id"], "duplicate": True}
    assert len(events(live)) == 1


def test_key_order_and_spacing_do_not_make_a_different_event(live: LiveHub, secret: str) -> None:
    send(live, secret, COMPLETED, msg_id="msg_same")
    reordered = json.dumps(dict(reversed(list(COMPLETED.items()))), indent=2).encode()
    answer = send(live, secret, None, body=reordered, msg_id="msg_same")
    assert answer.status_code == 200 and answer.json()["duplicate"] is True
    assert "content_mismatch" not in answer.json()


def test_the_same_id_with_other_content_keeps_the_first_and_is_audited(live: LiveHub, secret: str) -> None:
    first = send(live, secret, COMPLETED, msg_id="msg_clash")
    other = send(live, secret, event(type="course.enrolled"), msg_id="msg_clash")
    assert other.status_code == 200
    assert other.json() == {"id": first.json()["id"], "duplicate": True, "content_mismatch": True}
    stored = events(live)
    assert len(stored) == 1 and stored[0].type == "course.completed"
    with live.context() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "event.conflict")).one()
        assert audit.detail == {"source": "moodle", "webhook_id": "msg_clash", "event_id": first.json()["id"]}


def test_the_same_id_from_two_sources_is_two_events(live: LiveHub, secret: str) -> None:
    other = add_source(live, "totara")
    assert send(live, secret, COMPLETED, msg_id="msg_1").status_code == 202
    assert send(live, other, COMPLETED, msg_id="msg_1", source="totara").status_code == 202
    assert len(events(live)) == 2


def test_racing_deliveries_of_one_id_store_one_event(live: LiveHub, secret: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: send(live, secret, COMPLETED, msg_id="msg_race"), range(8)))
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(events(live)) == 1


# --- users ------------------------------------------------------------------------------------------------
def test_users_are_found_by_lms_id_then_verified_email(live: LiveHub) -> None:
    secret = add_source(live, "moodle", home_page="https://lms.example.edu")
    ada = add_user(live, "ada@partner.example")
    grace = add_user(live, "grace@partner.example")
    add_user(live, "eve@partner.example", verified=False)
    with live.context() as session:
        session.add(LmsAccount(user_id=grace, home_page="https://lms.example.edu", external_id="77"))
        session.add(LmsAccount(user_id=ada, home_page="moodle", external_id="78"))  # another namespace
        session.commit()

    def user_of(user: dict) -> int | None:
        answer = send(live, secret, event(user=user))
        assert answer.status_code == 202, answer.text
        with live.context() as session:
            return session.get(Event, answer.json()["id"]).user_id

    assert user_of({"email": "ADA@partner.example"}) == ada
    assert user_of({"external_id": "77"}) == grace
    assert user_of({"external_id": 77, "email": "ada@partner.example"}) == grace  # the LMS's own id wins
    assert user_of({"external_id": "78", "email": "ada@partner.example"}) == ada  # not ours: falls back to email
    assert user_of({"external_id": "78"}) is None  # the source's namespace is its home page
    assert user_of({"email": "eve@partner.example"}) is None  # unverified emails never match
    assert user_of({"email": "nobody@partner.example"}) is None  # stored all the same


def test_without_a_home_page_the_source_name_is_the_namespace(live: LiveHub, secret: str) -> None:
    ada = add_user(live, "ada@partner.example")
    with live.context() as session:
        session.add(LmsAccount(user_id=ada, home_page="moodle", external_id="9"))
        session.commit()
    answer = send(live, secret, event(user={"external_id": "9"}))
    with live.context() as session:
        assert session.get(Event, answer.json()["id"]).user_id == ada


# --- storage down ------------------------------------------------------------------------------------------
def test_database_down_is_a_503_so_the_lms_retries(live: LiveHub, secret: str) -> None:
    working = live.app.extensions["db_sessionmaker"]
    unreachable = create_engine(f"postgresql+psycopg://hub@127.0.0.1:{_closed_port()}/hub",
                                connect_args={"connect_timeout": 1})
    live.app.extensions["db_sessionmaker"] = sessionmaker(unreachable)
    try:
        answer = send(live, secret, COMPLETED, msg_id="msg_down")
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "unavailable" and answer.headers["Retry-After"] == "30"
    finally:
        live.app.extensions["db_sessionmaker"] = working
        unreachable.dispose()
    assert events(live) == []
    assert send(live, secret, COMPLETED, msg_id="msg_down").status_code == 202  # the retry lands
    assert len(events(live)) == 1


def test_redis_is_not_needed_to_accept_an_event(live: LiveHub, secret: str) -> None:
    import redis

    working = live.app.extensions["redis"]
    live.app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    try:
        assert send(live, secret, COMPLETED).status_code == 202
    finally:
        live.app.extensions["redis"] = working
    assert len(events(live)) == 1


def test_an_unexpected_error_is_a_json_500_and_stores_nothing(live: LiveHub, secret: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A content hash that blows up (a stand-in bug): nothing is stored and the LMS is told to retry."""
    from hub.sharing import intake

    def broken(payload):  # type: ignore[no-untyped-def]
        raise RuntimeError("intake bug")

    monkeypatch.setattr(intake, "content_hash", broken)
    answer = send(live, secret, COMPLETED)
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal_error" and "intake bug" not in answer.text
    assert events(live) == []


def test_a_planner_bug_keeps_the_event_and_does_not_stop_later_events(live: LiveHub, secret: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning runs in the dispatcher: an event it cannot plan is stored, handed back with its error (retried later:
    tests/sharing/test_planning_failures.py) and audited; the next is planned."""
    from hub import db
    from hub.models import AuditEvent, Delivery
    from hub.sharing import dispatch, planner

    _org_with_a_rule(live)
    real = planner.plan

    def broken_once(session, event, **kwargs):  # type: ignore[no-untyped-def]
        if event.external_id == "msg_poison":
            raise RuntimeError("planner bug")
        return real(session, event, **kwargs)

    monkeypatch.setattr(planner, "plan", broken_once)
    assert send(live, secret, COMPLETED, msg_id="msg_poison").status_code == 202
    assert send(live, secret, COMPLETED, msg_id="msg_fine").status_code == 202
    with live.app.app_context():
        assert dispatch.plan_new(db.session()) == 2
        assert dispatch.plan_new(db.session()) == 0
    with live.context() as session:
        [delivery] = session.scalars(select(Delivery)).all()
        fine = [e for e in events(live) if e.external_id == "msg_fine"][0]
        poison = [e for e in events(live) if e.external_id == "msg_poison"][0]
        assert delivery.event_id == fine.id and fine.planned_at is not None
        assert poison.planned_at is None and poison.plan_attempts == 1 and poison.next_plan_at is not None
        assert poison.plan_error == "RuntimeError: planner bug"
        [failure] = session.scalars(select(AuditEvent).where(AuditEvent.action == "event.plan_failed")).all()
        assert failure.detail["event_id"] == poison.id and failure.reason == "RuntimeError"



# --- deliveries ---------------------------------------------------------------------------------------------
def test_the_event_is_planned_and_enqueued_by_the_dispatcher_once(live: LiveHub, secret: str) -> None:
    from rq import Queue

    from hub import db, redis_conn
    from hub.models import Delivery
    from hub.sharing import dispatch

    _org_with_a_rule(live)
    first = send(live, secret, COMPLETED, msg_id="msg_planned")
    assert first.status_code == 202, first.text
    with live.context() as session:
        assert session.scalars(select(Delivery)).all() == []  # the request stored the event, nothing else
    with live.app.app_context():
        queue = Queue(dispatch.QUEUE, connection=redis_conn.get())
        assert queue.job_ids == []  # the request does not touch Redis
        assert dispatch.run_pass(db.session()).enqueued == 1  # the dispatcher plans and enqueues, after the commit
        [delivery] = db.session().scalars(select(Delivery)).all()
        assert delivery.event_id == first.json()["id"] and delivery.destination == "slack:#wins"
        assert queue.job_ids == [dispatch.job_id(delivery.id)] and delivery.enqueued_at is not None
        assert dispatch.run_pass(db.session()).enqueued == 0
    assert send(live, secret, COMPLETED, msg_id="msg_planned").status_code == 200
    with live.context() as session:
        assert len(session.scalars(select(Delivery)).all()) == 1


def test_redis_down_the_event_and_delivery_are_still_stored_and_answered(live: LiveHub, secret: str) -> None:
    import redis

    from hub.models import Delivery, DeliveryStatus

    _org_with_a_rule(live)
    working = live.app.extensions["redis"]
    live.app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
    try:
        answer = send(live, secret, COMPLETED)
    finally:
        live.app.extensions["redis"] = working
    assert answer.status_code == 202, answer.text
    with live.app.app_context():
        from hub import db
        from hub.sharing import dispatch

        live.app.extensions["redis"] = redis.Redis(host="127.0.0.1", port=_closed_port(), socket_connect_timeout=1)
        try:
            assert dispatch.run_pass(db.session()).enqueued == 0  # planned, but Redis is still down: not enqueued
        finally:
            live.app.extensions["redis"] = working
        [delivery] = db.session().scalars(select(Delivery)).all()
        assert delivery.status == DeliveryStatus.PENDING.value and delivery.enqueued_at is None  # the next pass


def _org_with_a_rule(live: LiveHub) -> None:
    from hub.models import Organisation, Rule

    with live.context() as session:
        org = Organisation(name="Partners Inc")
        session.add(org)
        session.flush()
        session.add(User(email="ada@partner.example", email_verified=True, name="Ada Lovelace", org_id=org.id))
        session.add(Rule(org_id=org.id, event_type="course.completed", destination="slack:#wins"))
        session.commit()
