"""LMS webhooks and xAPI statements nested past json_input.MAX_DEPTH, or past their size limits: a 400 or 413 in
each endpoint's own JSON error shape, never a 500, and nothing stored."""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
import requests

from hub.json_input import MAX_DEPTH
from hub.models import Source
from tests.live import LiveHub
from tests.raw_http import announce_body
from tests.webhooks.helpers import add_source, event, events, send
from webhooks.xapi.auth import issue_credentials
from webhooks.xapi.views import MAX_BODY_BYTES as XAPI_MAX_BODY_BYTES

NESTED = b"[" * 100_000


def too_deep(levels: int = MAX_DEPTH + 1) -> list[object]:
    return json.loads("[" * levels + "]" * levels)  # type: ignore[no-any-return]


# --- /webhooks/lms/<source> ---------------------------------------------------------------------------
@pytest.mark.parametrize("body", [NESTED[:60_000], b'{"type": "course.completed", "x": ' + NESTED[:60_000],
                                  json.dumps(event(course=too_deep())).encode()])
def test_a_signed_event_nested_too_deep_is_a_400_and_stores_nothing(live: LiveHub, body: bytes) -> None:
    answer = send(live, add_source(live), None, body=body)
    assert answer.status_code == 400, answer.text
    refusal = answer.json()
    assert refusal["error"] == "invalid_json" and refusal["field"] is None
    assert f"at most {MAX_DEPTH}" in refusal["message"]
    assert events(live) == []


# --- /xapi/statements ------------------------------------------------------------------------------------
@pytest.fixture
def basic(live: LiveHub) -> Iterator[str]:
    with live.context() as session:
        source = Source(name="moodle")
        credentials = issue_credentials(source)
        session.add(source)
        session.commit()
    yield "Basic " + base64.b64encode(f"{credentials.key}:{credentials.secret}".encode()).decode()


def statement(**extra: object) -> dict[str, object]:
    return {"actor": {"mbox": "mailto:ada@partner.example"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
            "object": {"id": "https://lms.example.edu/course/7"}, **extra}


@pytest.mark.parametrize("body", [NESTED, json.dumps([statement(), statement(result={"extensions": too_deep()})])
                                  .encode()])
@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_statements_nested_too_deep_are_a_400_and_store_nothing(live: LiveHub, basic: str, body: bytes,
                                                                method: str) -> None:
    answer = requests.request(method, f"{live.url}/xapi/statements", data=body, params={"statementId": "s-1"},
                              headers={"Authorization": basic, "X-Experience-API-Version": "1.0.3",
                                       "Content-Type": "application/json"}, timeout=30)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "body" and f"at most {MAX_DEPTH}" in answer.json()["error"]
    assert answer.headers["X-Experience-API-Version"] == "1.0.3"
    assert events(live) == []


def test_an_announced_statement_batch_past_the_limit_is_an_xapi_413(live: LiveHub, basic: str) -> None:
    answer = announce_body(live.url, "POST", "/xapi/statements", XAPI_MAX_BODY_BYTES + 1, {
        "Authorization": basic, "X-Experience-API-Version": "1.0.3", "Content-Type": "application/json"})
    assert answer.status == 413 and answer.content_type == "application/json"
    assert json.loads(answer.body)["field"] == "body"
    assert events(live) == []
