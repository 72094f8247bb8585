"""A provider gave no email (X without a confirmed one): the user names one and confirms it by a
one-time link before anything is created. Over HTTP, X sandbox, mail read from the outbox table."""
from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from hub.auth.views import PENDING_SIGNUP_TTL
from hub.models import Identity, MailMessage, User
from tests.clock import movable_clock
from tests.live import Browser, LiveHub, csrf_token

NOOR = "1427384956271038466"  # X sandbox user with no email at X
EMAIL = "noor@partner.example"


def counts(live: LiveHub) -> tuple[int, int]:
    with live.context() as session:
        return (session.scalar(select(func.count()).select_from(User)),
                session.scalar(select(func.count()).select_from(Identity)))


def mails(live: LiveHub) -> list[MailMessage]:
    with live.context() as session:
        return list(session.scalars(select(MailMessage).order_by(MailMessage.id)))


def start(live: LiveHub, **params: str) -> Browser:
    """Sign in with X as Noor; the hub parks the sign-in and asks for an email."""
    live.add_provider("x")
    browser = Browser(live)
    answer = browser.sign_in("x", user=NOOR, **params)
    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"] == "/auth/email"
    return browser


def request_link(live: LiveHub, browser: Browser, email: str = EMAIL) -> str:
    """Submit the email form; returns the confirmation link mailed to that address."""
    form = browser.get("/auth/email")
    assert form.status_code == 200 and 'name="email"' in form.text
    sent = browser.post("/auth/email", data={"email": email, "csrf_token": csrf_token(form.text)})
    assert sent.status_code == 200, sent.text
    assert "We sent a link" in sent.text
    message = mails(live)[-1]
    assert message.to == email.strip().lower()
    link = re.search(r"(http://\S+/auth/confirm/\S+)", message.body)
    assert link, message.body
    return link.group(1)


def test_confirmed_link_creates_the_user_with_the_x_identity(live: LiveHub) -> None:
    browser = start(live, next="/account")
    assert counts(live) == (0, 0)
    link = request_link(live, browser)
    assert counts(live) == (0, 0)  # mailing the link creates nothing

    page = browser.get(link)  # GET only shows a button: mail scanners that follow links confirm nothing
    assert page.status_code == 200
    assert EMAIL in page.text and "Confirm and continue" in page.text
    assert counts(live) == (0, 0)

    done = browser.post(link, data={"csrf_token": csrf_token(page.text)})
    assert done.status_code == 302, done.text
    assert done.headers["Location"] == "/account"
    assert EMAIL in browser.get("/account").text  # signed in
    with live.context() as session:
        user = session.scalar(select(User))
        assert user.email == EMAIL and user.email_verified and user.name == "Noor Haddad"
        identity = session.scalar(select(Identity))
        assert (identity.user_id, identity.provider, identity.subject) == (user.id, "x", NOOR)
        assert identity.claims["username"] == "noor_builds"
        assert identity.tokens_sealed and "access_token" not in identity.tokens_sealed
    assert counts(live) == (1, 1)

    # The link works once: both a second look and a second confirmation are refused.
    fresh = csrf_token(browser.get("/account").text)  # signing in rotated the session and its CSRF token
    for again in (browser.get(link), browser.post(link, data={"csrf_token": fresh})):
        assert again.status_code == 400
        assert "invalid, expired or already used" in html.unescape(again.text)
    assert counts(live) == (1, 1)

    # Next time X alone signs Noor in: the identity is known, no email is asked for.
    other = Browser(live)
    answer = other.sign_in("x", user=NOOR, next="/account")
    assert answer.status_code == 302 and answer.headers["Location"] == "/account"


def test_expired_link_fails_and_creates_nothing(live: LiveHub) -> None:
    browser = start(live)
    link = request_link(live, browser)
    movable_clock(live.app).advance(seconds=PENDING_SIGNUP_TTL.total_seconds() + 1)
    answer = browser.get(link)
    assert answer.status_code == 400
    assert "invalid, expired or already used" in html.unescape(answer.text)
    assert counts(live) == (0, 0)


def test_a_directory_address_on_a_reserved_name_is_taken_as_scim_and_lms_events_take_it(live: LiveHub) -> None:
    """hub/emails.py: test.user@okta.local is an address everywhere in the hub, this form included."""
    browser = start(live, next="/account")
    link = request_link(live, browser, "Test.User@OKTA.local")
    page = browser.get(link)
    assert browser.post(link, data={"csrf_token": csrf_token(page.text)}).status_code == 302
    with live.context() as session:
        assert session.scalar(select(User.email)) == "test.user@okta.local"


@pytest.mark.parametrize("bad", ["not-an-email", "@partner.example", "noor@", "noor@localhost", "noor@intranet",
                                 "no or@partner.example", "a@b@partner.example", "noor@partner.example\nBcc: x@y.z"])
def test_bad_email_is_a_clear_field_error(live: LiveHub, bad: str) -> None:
    browser = start(live)
    form = browser.get("/auth/email")
    answer = browser.post("/auth/email", data={"email": bad, "csrf_token": csrf_token(form.text)})
    assert answer.status_code == 400
    assert 'aria-invalid="true"' in answer.text and 'id="email-error"' in answer.text
    assert "Enter an email address like name@example.com." in answer.text
    assert mails(live) == [] and counts(live) == (0, 0)


def test_link_opened_in_another_browser_does_not_confirm(live: LiveHub) -> None:
    """Someone who types a victim's address cannot get their X account attached by the victim's click."""
    browser = start(live)
    link = request_link(live, browser, "victim@partner.example")
    stranger = Browser(live)
    page = stranger.get(link)
    assert page.status_code == 400 and "browser where you started" in html.unescape(page.text)
    assert counts(live) == (0, 0)
    # The rightful browser can still use it.
    page = browser.get(link)
    assert browser.post(link, data={"csrf_token": csrf_token(page.text)}).status_code == 302
    assert counts(live) == (1, 1)


def test_new_email_request_replaces_the_old_link(live: LiveHub) -> None:
    browser = start(live)
    first = request_link(live, browser, "typo@partner.exmaple")
    second = request_link(live, browser)
    assert browser.get(first).status_code == 400
    page = browser.get(second)
    assert page.status_code == 200 and EMAIL in page.text


def test_email_form_without_a_parked_sign_in_is_refused(live: LiveHub) -> None:
    answer = Browser(live).get("/auth/email")
    assert answer.status_code == 400 and "expired" in answer.text


def test_confirmation_mail_is_throttled_and_queued_for_the_worker(live: LiveHub) -> None:
    """One parked sign-in cannot flood inboxes: the sixth mail is refused with 429 and not written."""
    from rq import Queue

    from hub import redis_conn
    from hub.auth.throttle import MAILS_PER_SIGNUP

    browser = start(live)
    for index in range(MAILS_PER_SIGNUP):
        request_link(live, browser, f"noor{index}@partner.example")
    form = browser.get("/auth/email")
    refused = browser.post("/auth/email", data={"email": "victim@partner.example",
                                                "csrf_token": csrf_token(form.text)})
    assert refused.status_code == 429 and "Too many confirmation emails" in html.unescape(refused.text)
    assert len(mails(live)) == MAILS_PER_SIGNUP
    assert all(message.to != "victim@partner.example" for message in mails(live))
    with live.app.app_context():
        queued = Queue("default", connection=redis_conn.get()).jobs
    assert [job.func_name for job in queued] == ["hub.jobs.send_mail"] * MAILS_PER_SIGNUP
