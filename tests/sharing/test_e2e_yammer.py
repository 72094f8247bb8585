"""Yammer end to end: no Yammer provider config; the publisher borrows the Microsoft app and its HTTPS sandbox."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from hub import jobs
from hub.models import Connection
from hub.sharing import publishing
from providers.yammer.publish import YammerPublisher
from tests.live import LiveHub
from tests.providers.microsoft import conftest as https_sandbox
from tests.sharing.test_e2e import (
    LINK,
    TITLE,
    _connect,
    _org_and_learner,
    add_rule,
    delivery,
)
from tests.webhooks.helpers import COMPLETED, add_source, send

GROUP, MEGAN = "123456", "contoso-megan"
# The Microsoft sandbox over HTTPS (msal refuses http authorities), and the hub trusting its CA.
hub_env, tls_files, tls_url, add_microsoft = (https_sandbox.hub_env, https_sandbox.tls_files, https_sandbox.tls_url,
                                              https_sandbox.add_microsoft)


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
    with live.context() as session:  # documented gap: Entra's rotated refresh token is not stored back
        [connection] = session.scalars(select(Connection).where(Connection.kind == "yammer")).all()
        assert publishing.tokens_of(connection) == {"refresh_token": refresh_token}


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
