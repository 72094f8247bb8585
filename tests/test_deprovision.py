"""hub.deprovision: disable ends sessions at once; erase leaves no trace of the email in the database or Redis;
closing an organisation disables its members; the signals reach their receivers."""
from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import inspect, select, text

from hub import audit, deprovision, redis_conn
from hub.cli import main
from hub.models import (
    AuditEvent,
    Connection,
    Consent,
    Delivery,
    Erasure,
    Identity,
    LmsAccount,
    Organisation,
    User,
)
from tests.auth.helpers import ADA, callback_url, signed_in
from tests.live import Browser, LiveHub

ADA_EMAIL = "ada@partner.example"


def _sign_in_ada(live: LiveHub) -> tuple[Browser, int]:
    live.add_provider("google")
    browser = Browser(live)
    assert browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False).status_code == 302
    assert signed_in(browser)
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == ADA_EMAIL))
        return browser, user.id


def test_disable_ends_sessions_at_once_and_sends_the_signal(live: LiveHub) -> None:
    browser, user_id = _sign_in_ada(live)
    received: list[int] = []

    def receiver(sender: object, **kwargs: object) -> None:
        received.append(kwargs["user_id"])  # type: ignore[arg-type]

    deprovision.user_disabled.connect(receiver)
    try:
        with live.context() as session:
            deprovision.disable(session, session.get(User, user_id), actor="test", reason="test")
            session.commit()
    finally:
        deprovision.user_disabled.disconnect(receiver)
    assert received == [user_id]
    assert not signed_in(browser)


def test_erase_leaves_no_email_in_database_or_redis_and_audit_keeps_a_pseudonym(live: LiveHub) -> None:
    _browser, user_id = _sign_in_ada(live)
    with live.context() as session:
        session.add_all([
            Connection(kind="linkedin", user_id=user_id, remote_id="li-1", tokens_sealed="x"),
            Consent(user_id=user_id, destination_kind="linkedin", choice="always", text_version="1"),
            Delivery(key="k1", user_id=user_id, destination="linkedin:me", status="pending",
                     text=f"Ada ({ADA_EMAIL}) completed a course"),
            LmsAccount(user_id=user_id, home_page="https://lms.example.edu", external_id="42"),
        ])
        session.commit()
        audit.record("share", "success", user_id=None, actor=ADA_EMAIL, detail={"to": ADA_EMAIL.upper()})
    redis_conn_client = None
    with live.app.app_context():
        redis_conn_client = redis_conn.get()
        redis_conn_client.set(f"throttle:{ADA_EMAIL}", 1)
        redis_conn_client.set("login:state:abc", json.dumps({"email": ADA_EMAIL}))
    received: list[int] = []

    def receiver(sender: object, **kwargs: object) -> None:
        received.append(kwargs["user_id"])  # type: ignore[arg-type]

    deprovision.user_erased.connect(receiver)
    try:
        result = CliRunner().invoke(main, ["user", "erase", ADA_EMAIL, "--yes"], env=live.env)
    finally:
        deprovision.user_erased.disconnect(receiver)
    assert result.exit_code == 0, result.output
    with live.context() as session:
        for model in (Identity, Connection, Consent, Delivery, LmsAccount):
            assert session.scalar(select(model).where(model.user_id == user_id)) is None, model
        user = session.get(User, user_id)
        assert (user.email, user.given_name, user.picture, user.status) == (None, None, None, "disabled")
        erasure = session.get(Erasure, user_id)
        assert erasure is not None and erasure.pseudonym == deprovision.pseudonym(ADA_EMAIL, user_id)
        record = session.scalar(select(AuditEvent).where(AuditEvent.action == "user.erase"))
        assert record.user_id == user_id and record.detail["pseudonym"] == erasure.pseudonym
        # Every text column of every table, searched for the address in any case.
        connection = session.connection()
        for table in inspect(connection).get_table_names():
            rows = connection.execute(text(f'SELECT * FROM "{table}"')).all()
            assert ADA_EMAIL not in json.dumps([list(map(str, row)) for row in rows]).lower(), table
    for key in redis_conn_client.scan_iter():
        assert ADA_EMAIL.encode() not in key.lower()
        if redis_conn_client.type(key) == b"string":
            assert ADA_EMAIL.encode() not in (redis_conn_client.get(key) or b"").lower()
    assert received == [user_id]


def test_closing_an_organisation_disables_its_members(live: LiveHub) -> None:
    browser, user_id = _sign_in_ada(live)
    with live.context() as session:
        org = Organisation(name="Partner", policy="open")
        session.add(org)
        session.flush()
        session.get(User, user_id).org_id = org.id
        session.commit()
    result = CliRunner().invoke(main, ["org", "policy", "Partner", "closed"], env=live.env)
    assert result.exit_code == 0 and "1 members disabled" in result.output, result.output
    with live.context() as session:
        assert session.get(User, user_id).status == "disabled"
    assert not signed_in(browser)
