"""Yammer end to end: no Yammer provider config; the publisher borrows the Microsoft app and its HTTPS sandbox."""
from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from sqlalchemy import select

from hub import jobs, provider_access
from hub.demo import tls
from hub.models import Connection, Delivery
from hub.sharing import publishing, rules
from providers.base import Post
from providers.yammer.publish import YammerPublisher
from tests.live import LiveHub
from tests.sharing.test_e2e import (
    LINK,
    TITLE,
    _connect,
    _org_and_learner,
    add_rule,
    delivery,
)
from tests.webhooks.helpers import COMPLETED, add_source, event, send

GROUP, MEGAN = "123456", "contoso-megan"
OK = (200, 202, 204)


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """The hub trusts the CA of the HTTPS Microsoft sandbox (`tls_url`; msal refuses http authorities)."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca)}


def test_signed_event_lands_once_in_the_yammer_group(live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    microsoft = live.sandboxes["microsoft"]
    client_id = add_microsoft()
    org_id, user_id = _org_and_learner(live)
    refresh_token = microsoft.issue_refresh_token(client_id, MEGAN, "openid profile offline_access")
    _connect(live, "yammer", MEGAN, {"refresh_token": refresh_token}, user_id=user_id)  # consent "always" too
    add_rule(live, org_id, f"yammer:{GROUP}")
    before = microsoft.token_requests

    secret = add_source(live)
    answer = send(live, secret, COMPLETED, msg_id="msg_yammer_1")
    assert answer.status_code in (200, 202, 204), answer.text
    jobs.run_worker(live.app, burst=True)

    row = delivery(live)
    assert row.status == "sent", (row.status, row.last_error)
    [message] = microsoft.yammer.group_messages(GROUP)
    assert TITLE in message["body"]["plain"] and message["og"]["url"] == LINK
    assert row.remote_id == str(message["id"]) and row.remote_url == message["web_url"]
    assert microsoft.token_requests == before + 1  # msal redeemed the refresh token at the sandbox's Entra

    again = send(live, secret, COMPLETED, msg_id="msg_yammer_1")  # the LMS retries the same event
    assert again.status_code in (200, 202, 204), again.text
    jobs.run_worker(live.app, burst=True)
    assert len(microsoft.yammer.group_messages(GROUP)) == 1
    assert delivery(live).status == "sent"
    assert microsoft.yammer.group_messages("234567") == []
    assert microsoft.token_requests == before + 1  # the retried event sent nothing, redeemed nothing


def test_the_rotated_refresh_token_is_stored_and_the_next_send_uses_it(
        live: LiveHub, add_microsoft: Callable[..., str]) -> None:
    microsoft = live.sandboxes["microsoft"]
    client_id = add_microsoft()
    org_id, user_id = _org_and_learner(live)
    first = microsoft.issue_refresh_token(client_id, MEGAN, "openid profile offline_access")
    _connect(live, "yammer", MEGAN, {"refresh_token": first}, user_id=user_id)
    add_rule(live, org_id, f"yammer:{GROUP}")
    secret = add_source(live)
    sealed_before = _connection(live).tokens_sealed

    assert send(live, secret, COMPLETED).status_code in OK
    jobs.run_worker(live.app, burst=True)
    second = _stored_refresh_token(live)
    assert second != first and second in microsoft.refresh_tokens  # Entra's replacement, stored
    assert _connection(live).tokens_sealed != sealed_before and second not in _connection(live).tokens_sealed

    microsoft.revoke_refresh_token(first)  # from now on only the stored token can post
    assert send(live, secret, event(course={**COMPLETED["course"], "id": "SEC-102"})).status_code in OK
    jobs.run_worker(live.app, burst=True)
    assert [(row.status, row.last_error) for row in _deliveries(live)] == [("sent", None), ("sent", None)]
    assert len(microsoft.yammer.group_messages(GROUP)) == 2
    assert _stored_refresh_token(live) not in {first, second}  # rotated again on the second send


def test_racing_workers_keep_the_first_rotated_token(live: LiveHub, add_microsoft: Callable[..., str],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    """Two workers (two sessions) read the same connection and both redeem its refresh token; Entra accepts both."""
    caplog.set_level(logging.DEBUG)
    microsoft = live.sandboxes["microsoft"]
    client_id = add_microsoft()
    _org, user_id = _org_and_learner(live)
    first = microsoft.issue_refresh_token(client_id, MEGAN, "openid profile offline_access")
    _connect(live, "yammer", MEGAN, {"refresh_token": first}, user_id=user_id)
    destination, connection_id = rules.parse_destination(f"yammer:{GROUP}"), _connection(live).id
    with live.context() as session_a:
        worker_a = publishing.target_for(destination, session_a.get(Connection, connection_id))
        with live.context() as session_b:
            worker_b = publishing.target_for(destination, session_b.get(Connection, connection_id))
            publishing.publisher_for(session_a, "yammer").publish(worker_a, Post("a", None, None, None, "hub-a"))
            won = _stored_refresh_token(live)
            # b redeems the token it read (valid still), gets its own replacement, and finds a newer one stored.
            publishing.publisher_for(session_b, "yammer").publish(worker_b, Post("b", None, None, None, "hub-b"))
    assert won != first and _stored_refresh_token(live) == won
    assert len(microsoft.yammer.group_messages(GROUP)) == 2
    assert first not in caplog.text and won not in caplog.text  # tokens are never logged


def _connection(live: LiveHub) -> Connection:
    with live.context() as session:
        [connection] = session.scalars(select(Connection).where(Connection.kind == "yammer")).all()
        return connection


def _stored_refresh_token(live: LiveHub) -> str:
    with live.context():
        return str(provider_access.tokens_of(_connection(live))["refresh_token"])


def _deliveries(live: LiveHub) -> list[Delivery]:
    with live.context() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_yammer_settings_borrow_the_microsoft_app(live: LiveHub, add_microsoft: Callable[..., str],
                                                  tls_url: str) -> None:
    client_id = add_microsoft(tenant="organizations")
    with live.context() as session:
        settings = publishing._settings(session, "yammer")
        publisher = publishing.publisher_for(session, "yammer")
        assert session.scalars(select(Connection)).all() == []
    assert settings.name == "yammer" and settings.client_id == client_id and settings.client_secret
    assert settings.auth_base == f"{tls_url}/sandbox/microsoft"
    assert settings.api_base == f"{tls_url}/sandbox/microsoft/yammer"
    assert isinstance(publisher, YammerPublisher) and publisher.tenant == "organizations"


def test_without_a_microsoft_config_yammer_has_no_credentials(live: LiveHub) -> None:
    with live.context() as session:
        settings = publishing._settings(session, "yammer")
    assert settings.client_id == "" and settings.client_secret == ""
