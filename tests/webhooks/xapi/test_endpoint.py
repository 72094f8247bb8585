"""/xapi over real HTTP, as Moodle's logstore_xapi (requests, its exact wire format) and Open edX (TinCanPython)
send to it: ids in order, dedupe, 409, the version header and credentials."""
from __future__ import annotations

import base64
import json
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from rq import Queue
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import sessionmaker
from tincan import RemoteLRS, Statement, StatementList

from hub import db, redis_conn
from hub.models import Delivery, Event, LmsAccount, Rule, Source, User
from hub.sharing import dispatch
from tests.live import LiveHub
from tests.webhooks.xapi.helpers import moodle_batch, openedx
from webhooks.xapi.auth import XapiCredentials, issue_credentials


@dataclass
class Lms:
    hub: LiveHub
    source_id: int
    credentials: XapiCredentials
    http: requests.Session

    @property
    def endpoint(self) -> str:
        return f"{self.hub.url}/xapi/"

    def basic(self) -> str:
        pair = f"{self.credentials.key}:{self.credentials.secret}".encode()
        return "Basic " + base64.b64encode(pair).decode()

    def moodle_post(self, statements: list[dict[str, Any]], path: str = "/xapi/statements",
                    **headers: str) -> requests.Response:
        """What logstore_xapi's cron does: POST a JSON array, Basic auth, xAPI 1.0.0."""
        sent = {"Authorization": self.basic(), "X-Experience-API-Version": "1.0.0",
                "Content-Type": "application/json", **headers}
        return self.http.post(self.hub.url + path, data=json.dumps(statements), headers=sent)

    def events(self) -> list[Event]:
        with self.hub.context() as session:
            return list(session.scalars(select(Event).where(Event.source_id == self.source_id).order_by(Event.id)))

    def lrs(self, **auth: str) -> RemoteLRS:
        """TinCanPython's client, as event-routing-backends configures it."""
        if not auth:
            auth = {"username": self.credentials.key, "password": self.credentials.secret}
        return RemoteLRS(endpoint=self.endpoint, version="1.0.3", **auth)


@pytest.fixture
def lms(live: LiveHub) -> Iterator[Lms]:
    with live.context() as session:
        source = Source(name="moodle", all_orgs=True)  # its statements may name any organisation's learners
        credentials = issue_credentials(source)
        session.add(source)
        session.commit()
        source_id = source.id
    http = requests.Session()
    http.trust_env = False
    yield Lms(live, source_id, credentials, http)
    http.close()


def test_moodle_batch_answers_exactly_200_with_ids_in_order(lms: Lms) -> None:
    batch = moodle_batch()
    answer = lms.moodle_post(batch)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Experience-API-Version"] == "1.0.3"
    ids = answer.json()
    assert len(ids) == 5 and len(set(ids)) == 5 and all(uuid.UUID(i) for i in ids)
    events = lms.events()
    assert [e.external_id for e in events] == ids
    assert [e.type for e in events] == ["course.enrolled", None, "course.completed", "badge.awarded",
                                        "certificate.issued"]
    badge = events[3].payload
    assert badge["badge"]["title"] == "test_badgename" and badge["course"]["title"] == "test_course_name"
    assert badge["xapi"]["context"]["instructor"] == "System"  # the quirk is stored as sent
    assert events[2].occurred_at is not None


def test_a_resent_moodle_batch_changes_nothing(lms: Lms) -> None:
    first = lms.moodle_post(moodle_batch()).json()
    again = moodle_batch()
    again[0]["actor"]["name"] = "Renamed in Moodle"  # not who, what or when: still the same event
    assert lms.moodle_post(again).json() == first
    # Moodle strips a trailing "/statements" or "/" from the endpoint and adds "/statements"; both paths work.
    assert lms.moodle_post(moodle_batch(), path="/xapi/statements/").json() == first
    assert len(lms.events()) == 5


def test_tincan_put_single_statement_then_replay(lms: Lms) -> None:
    lrs = lms.lrs()
    statement = Statement(openedx("registered"))
    response = lrs.save_statement(statement)
    assert response.success, response.data
    assert response.response.status == 204  # PUT ?statementId=, Open edX's default
    assert response.response.getheader("X-Experience-API-Version") == "1.0.3"
    replay = lrs.save_statement(Statement(openedx("registered")))
    assert replay.success and replay.response.status == 204
    (event,) = lms.events()
    assert event.external_id == "c9b2c0cf-1f4c-5b4e-9a4a-8a8c1d3d0a01"
    assert event.type == "course.enrolled"
    assert event.payload["course"]["title"] == "Demonstration Course"


def test_tincan_batch_gets_ids_in_order(lms: Lms) -> None:
    passed = Statement(openedx("passed"))
    anonymous = openedx("registered")
    del anonymous["id"]  # the LRS assigns one
    statements = StatementList([Statement(anonymous), passed])
    response = lms.lrs().save_statements(statements)
    assert response.success and response.response.status == 200, response.data
    ids = json.loads(response.data)
    assert ids[1] == "6d1f033b-3f70-458c-b53a-e6bb63cbaef9"
    assert str(response.content[0].id) == ids[0]  # TinCanPython copied the generated id back
    assert [e.external_id for e in lms.events()] == ids


def test_same_id_different_content_is_409_and_stores_nothing(lms: Lms) -> None:
    lrs = lms.lrs()
    assert lrs.save_statement(Statement(openedx("passed"))).response.status == 204
    changed = openedx("passed")
    changed["timestamp"] = "2021-01-01T00:00:00+00:00"
    conflict = lrs.save_statement(Statement(changed))
    assert conflict.response.status == 409
    assert conflict.response.getheader("X-Experience-API-Version") == "1.0.3"
    # In a batch, a conflict refuses the whole request: the new statement beside it is not stored either.
    fresh = openedx("registered")
    answer = lms.moodle_post([fresh, changed])
    assert answer.status_code == 409 and answer.json()["field"] == "id"
    (event,) = lms.events()
    assert event.occurred_at is not None and event.occurred_at.year == 2020


def test_bearer_token_works_and_bad_credentials_are_401(lms: Lms) -> None:
    bearer = lms.lrs(auth=f"Bearer {lms.credentials.bearer}")
    assert bearer.save_statement(Statement(openedx("passed"))).response.status == 204
    wrong = [
        {},
        {"Authorization": "Bearer not-the-token"},
        {"Authorization": "Basic " + base64.b64encode(f"{lms.credentials.key}:wrong".encode()).decode()},
        {"Authorization": "Basic " + base64.b64encode(f"xapi_unknown:{lms.credentials.secret}".encode()).decode()},
        {"Authorization": "Basic !!!"},
        {"Authorization": f"Token {lms.credentials.bearer}"},
    ]
    for headers in wrong:
        answer = lms.http.post(f"{lms.hub.url}/xapi/statements", data=json.dumps(openedx("registered")),
                               headers={"X-Experience-API-Version": "1.0.3", **headers})
        assert answer.status_code == 401, headers
        assert answer.headers["X-Experience-API-Version"] == "1.0.3"
        challenges = answer.headers["WWW-Authenticate"]
        assert "Basic" in challenges and "Bearer" in challenges
    assert len(lms.events()) == 1


def test_a_disabled_source_is_refused(lms: Lms) -> None:
    with lms.hub.context() as session:
        session.get(Source, lms.source_id).enabled = False
        session.commit()
    assert lms.moodle_post(moodle_batch()).status_code == 401
    assert lms.events() == []


def test_versions(lms: Lms) -> None:
    about = lms.http.get(f"{lms.hub.url}/xapi/about")
    assert about.status_code == 200 and about.json()["version"][0] == "1.0.3"
    assert all(v.startswith("1.0.") for v in about.json()["version"])
    assert about.headers["X-Experience-API-Version"] == "1.0.3"
    for version in ("1.0.0", "1.0.1", "1.0.3", "1.0.9"):
        assert lms.moodle_post(moodle_batch()[:1], **{"X-Experience-API-Version": version}).status_code == 200
    refused = lms.moodle_post(moodle_batch()[:1], **{"X-Experience-API-Version": "2.0.0"})
    assert refused.status_code == 400 and refused.json()["field"] == "X-Experience-API-Version"
    assert refused.headers["X-Experience-API-Version"] == "1.0.3"


def test_only_broken_statements_are_400_and_nothing_of_that_batch_is_stored(lms: Lms) -> None:
    bad_json = lms.http.post(f"{lms.hub.url}/xapi/statements", data=b'[{"actor": ',
                             headers={"Authorization": lms.basic(), "X-Experience-API-Version": "1.0.0"})
    assert bad_json.status_code == 400 and bad_json.json()["field"] == "body"
    batch = moodle_batch()
    del batch[2]["verb"]
    answer = lms.moodle_post(batch)
    assert answer.status_code == 400
    assert answer.json()["field"] == "statements[2].verb"
    assert answer.headers["X-Experience-API-Version"] == "1.0.3"
    assert lms.events() == []


def test_put_needs_a_statement_id_and_one_statement(lms: Lms) -> None:
    headers = {"Authorization": lms.basic(), "X-Experience-API-Version": "1.0.3"}
    no_id = lms.http.put(f"{lms.hub.url}/xapi/statements", data=json.dumps(openedx("passed")), headers=headers)
    assert no_id.status_code == 400 and no_id.json()["field"] == "statementId"
    array = lms.http.put(f"{lms.hub.url}/xapi/statements", params={"statementId": str(uuid.uuid4())},
                         data=json.dumps([openedx("passed")]), headers=headers)
    assert array.status_code == 400 and array.json()["field"] == "body"
    assert lms.events() == []


def test_users_by_mbox_or_by_lms_account(lms: Lms) -> None:
    with lms.hub.context() as session:
        ada = User(email="ada@partner.example", email_verified=True)
        grace = User(email="grace@partner.example", email_verified=True)
        session.add_all([ada, grace])
        session.flush()
        session.add(LmsAccount(user_id=grace.id, home_page="http://localhost:18000",
                               external_id="32e08e30-f8ae-4ce2-94a8-c2bfe38a70cb"))
        session.commit()
        ada_id, grace_id = ada.id, grace.id
    by_mail = openedx("passed")
    by_mail["actor"] = {"objectType": "Agent", "mbox": "mailto:ADA@partner.example"}
    stranger = moodle_batch()[0]  # Moodle user 1 at www.example.org: nobody the hub knows
    answer = lms.moodle_post([by_mail, openedx("registered"), stranger])
    assert answer.status_code == 200, answer.text
    assert [e.user_id for e in lms.events()] == [ada_id, grace_id, None]


def test_no_csrf_token_or_session_needed_and_no_other_source_sees_the_events(lms: Lms) -> None:
    with lms.hub.context() as session:
        other = Source(name="openedx")
        issue_credentials(other)
        session.add(other)
        session.commit()
    assert lms.moodle_post(moodle_batch()).status_code == 200
    with lms.hub.context() as session:
        assert session.scalar(select(func.count()).select_from(Event).where(Event.source_id != lms.source_id)) == 0


def test_a_mapped_statement_plans_its_delivery_once(lms: Lms) -> None:
    with lms.hub.context() as session:
        learner = User(email="ada@partner.example", email_verified=True, name="Ada Lovelace")
        session.add_all([learner, Rule(org_id=None, event_type="course.completed", destination="slack:#wins")])
        session.commit()
    passed = openedx("passed")
    passed["actor"] = {"objectType": "Agent", "mbox": "mailto:ada@partner.example"}
    lrs = lms.lrs()
    assert lrs.save_statement(Statement(passed)).response.status == 204
    assert lrs.save_statement(Statement(passed)).response.status == 204  # Open edX retries: nothing new
    ignored = openedx("registered")  # no rule for enrolments: stored, no delivery
    ignored["actor"] = passed["actor"]
    assert lrs.save_statement(Statement(ignored)).response.status == 204
    with lms.hub.app.app_context():  # planned and enqueued by the dispatcher after the commit, job id = delivery id
        assert Queue(dispatch.QUEUE, connection=redis_conn.get()).job_ids == []
        assert dispatch.run_pass(db.session()).enqueued == 1
        assert dispatch.run_pass(db.session()).enqueued == 0
    with lms.hub.context() as session:
        (delivery,) = session.scalars(select(Delivery)).all()
        (event,) = [e for e in lms.events() if e.type == "course.completed"]
    assert delivery.event_id == event.id and delivery.status == "pending"
    assert delivery.text is not None and "Demonstration Course" in delivery.text
    with lms.hub.app.app_context():
        assert Queue(dispatch.QUEUE, connection=redis_conn.get()).job_ids == [dispatch.job_id(delivery.id)]


def test_database_down_is_503_so_the_lms_sends_again(lms: Lms) -> None:
    working = lms.hub.app.extensions["db_sessionmaker"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    unreachable = create_engine(f"postgresql+psycopg://hub@127.0.0.1:{closed_port}/hub",
                                connect_args={"connect_timeout": 1})
    lms.hub.app.extensions["db_sessionmaker"] = sessionmaker(unreachable)
    try:
        answer = lms.moodle_post(moodle_batch())
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
        assert answer.headers["X-Experience-API-Version"] == "1.0.3"
    finally:
        lms.hub.app.extensions["db_sessionmaker"] = working
        unreachable.dispose()
    assert lms.moodle_post(moodle_batch()).status_code == 200
    assert len(lms.events()) == 5


def test_a_chunked_body_past_the_limit_is_a_413_and_is_not_buffered(lms: Lms) -> None:
    """No Content-Length to refuse up front (chunked): the endpoint reads one byte past its limit, then answers."""
    from webhooks.xapi.views import MAX_BODY_BYTES

    def endless() -> Iterator[bytes]:
        yield b"["
        chunk = b'{"actor": "x"},' * 4096
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk
        yield b"{}]"

    answer = lms.http.post(f"{lms.hub.url}/xapi/statements", data=endless(), headers={
        "Authorization": lms.basic(), "X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"})
    assert answer.status_code == 413 and answer.json()["field"] == "body"
    assert lms.events() == []


def test_a_content_length_past_the_hubs_ceiling_is_a_json_413_before_the_body_is_read(lms: Lms) -> None:
    """Announced far past MAX_REQUEST_BYTES and never sent: the answer comes at once (nothing waits for the body)."""
    from hub.app import MAX_REQUEST_BYTES

    host, port = lms.hub.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"POST /webhooks/lms/moodle HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {MAX_REQUEST_BYTES * 4}\r\n\r\n{{".encode())
        answer = b""
        while chunk := sock.recv(65536):  # the hub closes the connection after its answer
            answer += chunk
    text = answer.decode("latin-1")
    assert text.startswith("HTTP/1.1 413") and "application/json" in text and '"too_large"' in text


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("get", "/webhooks/lms/moodle", {"POST"}),
    ("delete", "/xapi/statements", {"POST", "PUT"}),
])
def test_a_method_a_machine_path_does_not_answer_is_a_json_405_with_allow(lms: Lms, method: str, path: str,
                                                                          allowed: set[str]) -> None:
    answer = lms.http.request(method, lms.hub.url + path)
    allow = set(answer.headers["Allow"].split(", "))
    assert answer.status_code == 405 and allowed <= allow and method.upper() not in allow
    assert answer.json()["error"] == "method_not_allowed"


def test_a_page_answers_a_wrong_method_with_a_page_and_allow(lms: Lms) -> None:
    answer = lms.http.delete(f"{lms.hub.url}/login")
    assert answer.status_code == 405 and "GET" in answer.headers["Allow"]
    assert answer.headers["Content-Type"].startswith("text/html")
