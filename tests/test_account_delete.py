"""Deleting my own account over HTTP: CSRF and an exact confirmation guard the erasure, the session ends, and
signing in again starts a fresh account."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import func, select

from hub.models import AuditEvent, Connection, Delivery, Erasure, Identity, User
from tests.auth.helpers import ADA, signed_in
from tests.live import Browser, LiveHub, csrf_token
from tests.sharing.test_connect import LINH, _connect, _provider

ADA_EMAIL = "ada@partner.example"


@pytest.fixture
def hub(live: LiveHub) -> LiveHub:
    live.add_provider("google")
    _provider(live, "linkedin")
    return live


def _ada(hub: LiveHub) -> Browser:
    browser = Browser(hub)
    assert browser.sign_in("google", user=ADA).status_code == 302
    return browser


def _state(hub: LiveHub) -> dict[str, int]:
    with hub.context() as session:
        def count(model: type) -> int:
            return int(session.scalar(select(func.count()).select_from(model)))
        return {"live_users": int(session.scalar(select(func.count()).select_from(User)
                                                 .where(User.email.is_not(None)))),
                "identities": count(Identity), "connections": count(Connection), "erasures": count(Erasure),
                "deliveries": count(Delivery)}


def _ada_with_everything(hub: LiveHub) -> Browser:
    """Ada signed in with a LinkedIn connection and a post waiting for it."""
    browser = _ada(hub)
    _, callback = _connect(browser, "linkedin", LINH)
    assert browser.http.get(callback, allow_redirects=False).status_code == 302
    with hub.context() as session:
        user = session.scalars(select(User)).one()
        session.add(Delivery(key="k-waiting", user_id=user.id, destination="linkedin:me", status="pending",
                             text="Ada completed Security Basics"))
        session.commit()
    return browser


def test_the_account_page_links_to_a_confirmation_that_says_what_goes(hub: LiveHub) -> None:
    browser = _ada(hub)
    account = browser.get("/account").text
    assert 'href="/account/delete"' in account
    page = html.unescape(browser.get("/account/delete").text)
    for words in ("linked sign-ins", "connected for sharing", "waiting to be shared", "personal data",
                  "audit log keeps", "pseudonym", f"Type your email address, {ADA_EMAIL}"):
        assert words in page, words
    assert 'name="csrf_token"' in page


def test_signed_out_visitors_are_sent_to_sign_in(hub: LiveHub) -> None:
    answer = Browser(hub).get("/account/delete")
    assert answer.status_code == 302 and "/login" in answer.headers["Location"]


def test_without_csrf_nothing_is_erased(hub: LiveHub) -> None:
    browser = _ada_with_everything(hub)
    before = _state(hub)
    answer = browser.post("/account/delete", data={"confirm_email": ADA_EMAIL})
    assert answer.status_code == 400
    assert _state(hub) == before and before["erasures"] == 0
    assert signed_in(browser)


@pytest.mark.parametrize(("typed", "message"), [
    ("", "Type your email address to confirm."),
    ("someone@else.example", "That is not your account's email address. Nothing was deleted."),
])
def test_a_wrong_confirmation_erases_nothing_and_says_why(hub: LiveHub, typed: str, message: str) -> None:
    browser = _ada_with_everything(hub)
    before = _state(hub)
    token = csrf_token(browser.get("/account/delete").text)
    answer = browser.post("/account/delete", data={"csrf_token": token, "confirm_email": typed})
    page = html.unescape(answer.text)
    assert answer.status_code == 422 and message in page
    assert f'value="{typed}"' in page  # what was typed is kept beside the error
    assert 'aria-invalid="true"' in page
    assert _state(hub) == before
    assert signed_in(browser)
    assert hub.sandboxes["linkedin"].revoked == []


def test_confirmed_erases_the_user_ends_the_session_and_a_new_sign_in_starts_afresh(hub: LiveHub) -> None:
    browser = _ada_with_everything(hub)
    with hub.context() as session:
        old_id = session.scalars(select(User)).one().id
    token = csrf_token(browser.get("/account/delete").text)
    # Any spelling of the address confirms: case and surrounding spaces do not matter.
    answer = browser.post("/account/delete", data={"csrf_token": token, "confirm_email": f"  {ADA_EMAIL.upper()} "})
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/account/deleted"), answer.text

    goodbye = browser.get("/account/deleted")
    assert goodbye.status_code == 200 and "Your account was deleted" in goodbye.text
    assert ADA_EMAIL not in goodbye.text
    assert not signed_in(browser)  # the session is gone

    state = _state(hub)
    assert state == {"live_users": 0, "identities": 0, "connections": 0, "erasures": 1, "deliveries": 0}
    assert hub.sandboxes["linkedin"].revoked  # the connection's token was revoked at LinkedIn first
    with hub.context() as session:
        erased = session.get(User, old_id)
        assert erased.email is None and erased.name == "Erased user" and erased.status == "disabled"
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "user.erase")).all()
        assert event.user_id == old_id and event.actor.startswith("erased:")
        assert not session.scalar(select(func.count()).select_from(AuditEvent)
                                  .where(func.lower(AuditEvent.actor) == ADA_EMAIL))

    again = Browser(hub)
    assert again.sign_in("google", user=ADA).status_code == 302
    with hub.context() as session:
        fresh = session.scalars(select(User).where(User.email == ADA_EMAIL)).one()
        assert fresh.id != old_id and len(fresh.identities) == 1
    assert signed_in(again)


def test_an_account_without_email_confirms_with_the_tick_box(hub: LiveHub) -> None:
    browser = _ada(hub)
    with hub.context() as session:
        user = session.scalars(select(User)).one()
        user.email = None
        session.commit()
    page = browser.get("/account/delete").text
    assert 'type="checkbox"' in page and 'name="confirm_email"' not in page
    token = csrf_token(page)
    refused = browser.post("/account/delete", data={"csrf_token": token})
    assert refused.status_code == 422 and "Tick the box" in refused.text
    assert _state(hub)["erasures"] == 0

    answer = browser.post("/account/delete", data={"csrf_token": token, "confirm": "yes"})
    assert answer.status_code == 303
    assert _state(hub)["erasures"] == 1 and not signed_in(browser)
