"""LMS events and xAPI statements under hub/emails.py, the policy sign-in and SCIM use: a directory address on a
reserved name (Okta's sample test.user@okta.local) is an address and finds its user; what is not an address is
refused naming the field, and nothing is stored."""
from __future__ import annotations

import base64
import json

import pytest
import requests

from hub.models import Event, Source, User
from tests.live import LiveHub
from tests.webhooks.helpers import add_source, event, events, send
from tests.webhooks.xapi.helpers import moodle_batch
from webhooks.xapi.auth import issue_credentials

OKTA_SAMPLE = "test.user@okta.local"


def add_user(live: LiveHub, email: str) -> int:
    with live.context() as session:
        user = User(email=email, email_verified=True, name="Test User")
        session.add(user)
        session.commit()
        return user.id


def test_an_lms_event_for_a_directory_address_finds_its_user(live: LiveHub) -> None:
    secret = add_source(live)
    user_id = add_user(live, OKTA_SAMPLE)
    answer = send(live, secret, event(user={"email": "Test.User@OKTA.local"}))
    assert answer.status_code == 202, answer.text
    with live.context() as session:
        assert session.get(Event, answer.json()["id"]).user_id == user_id


@pytest.mark.parametrize("bad", ["not-an-email", "test user@okta.local", "test.user@", "a@b..local"])
def test_an_lms_event_with_an_address_that_is_not_one_is_refused(live: LiveHub, bad: str) -> None:
    secret = add_source(live)
    answer = send(live, secret, event(user={"email": bad}))
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["field"] == "user.email" and "not an email address" in body["message"], body
    assert events(live) == []


def _xapi(live: LiveHub) -> tuple[requests.Session, dict[str, str]]:
    with live.context() as session:
        source = Source(name="moodle", all_orgs=True)
        credentials = issue_credentials(source)
        session.add(source)
        session.commit()
    pair = base64.b64encode(f"{credentials.key}:{credentials.secret}".encode()).decode()
    http = requests.Session()
    http.trust_env = False
    return http, {"Authorization": f"Basic {pair}", "X-Experience-API-Version": "1.0.0",
                  "Content-Type": "application/json"}


def _statement(mbox: object) -> dict[str, object]:
    statement = moodle_batch()[0]
    statement["actor"] = {**statement["actor"], "mbox": mbox}
    statement["actor"].pop("account", None)
    return statement


def test_an_xapi_statement_for_a_directory_address_finds_its_user(live: LiveHub) -> None:
    user_id = add_user(live, OKTA_SAMPLE)
    http, headers = _xapi(live)
    answer = http.post(f"{live.url}/xapi/statements", data=json.dumps([_statement("mailto:Test.User@okta.LOCAL")]),
                       headers=headers)
    assert answer.status_code == 200, answer.text
    with live.context() as session:
        stored = session.query(Event).one()
        assert stored.user_id == user_id


@pytest.mark.parametrize("mbox", ["mailto:not-an-email", "mailto:test user@okta.local", "test.user@okta.local", 42])
def test_an_xapi_actor_whose_mbox_is_not_an_address_is_a_400(live: LiveHub, mbox: object) -> None:
    http, headers = _xapi(live)
    answer = http.post(f"{live.url}/xapi/statements", data=json.dumps([_statement(mbox)]), headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["field"] == "statements[0].actor.mbox", answer.json()
    with live.context() as session:
        assert session.query(Event).count() == 0
