"""Server-side sessions: a copied cookie dies with its session; absolute and idle lifetimes on a moved clock;
signing out everywhere, disabling a user and changing their admin role end every session; old rows are pruned."""
from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from hub.auth.sessions import PRUNE_BATCH, SESSION_ID_KEY
from hub.cli import main
from hub.crypto import token_hash
from hub.models import User, UserSession, aware
from tests.auth.helpers import ADA, callback_url, sign_out, signed_in
from tests.clock import MovableClock, movable_clock
from tests.live import Browser, LiveHub, csrf_token

ADA_EMAIL = "ada@partner.example"
ADMIN = "110169484474386276337"  # admin@hub.example, in HUB_ADMIN_EMAILS


@pytest.fixture
def hub(live: LiveHub) -> LiveHub:
    live.add_provider("google")
    return live


@pytest.fixture
def clock(hub: LiveHub) -> MovableClock:
    return movable_clock(hub.app)


def _signed_in_as(live: LiveHub, sub: str = ADA) -> Browser:
    browser = Browser(live)
    answer = browser.http.get(callback_url(browser, "google", sub), allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return browser


def _replay(live: LiveHub, cookie: str, path: str = "/account") -> requests.Response:
    """A request from elsewhere carrying a copy of the cookie (as a thief would), followed by nothing."""
    return requests.get(live.url + path, headers={"Cookie": f"hub_session={cookie}"}, allow_redirects=False)


def _refused(answer: requests.Response) -> bool:
    """The signed-out answer: /account sends the browser to the sign-in page, and the cookie is cleared."""
    return (answer.status_code == 302 and answer.headers["Location"].startswith("/login?next=")
            and answer.headers.get("Set-Cookie", "").startswith("hub_session=;"))


def _rows(live: LiveHub, email: str = ADA_EMAIL) -> list[UserSession]:
    with live.context() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
        return list(session.scalars(select(UserSession).where(UserSession.user_id == user_id)
                                    .order_by(UserSession.created_at)))


def _open(live: LiveHub, email: str = ADA_EMAIL) -> int:
    return sum(1 for row in _rows(live, email) if row.ended_at is None)


def test_a_copied_cookie_works_until_sign_out_and_after_it_gets_the_signed_out_answer(hub: LiveHub) -> None:
    browser = _signed_in_as(hub)
    copied = browser.http.cookies["hub_session"]
    assert _replay(hub, copied).status_code == 200  # the copy is as good as the original while the session lives
    sign_out(browser)
    for _ in range(2):  # every replay, not only the first
        assert _refused(_replay(hub, copied))
    [row] = _rows(hub)
    assert row.ended_at is not None


def test_the_database_holds_only_the_hash_of_the_session_id(hub: LiveHub) -> None:
    browser = _signed_in_as(hub)
    serializer = hub.app.session_interface.get_signing_serializer(hub.app)
    secret = serializer.loads(browser.http.cookies["hub_session"])[SESSION_ID_KEY]
    [row] = _rows(hub)
    assert row.id_hash == token_hash(secret) and secret not in row.id_hash


def test_signing_in_again_in_the_same_browser_ends_the_previous_session(hub: LiveHub) -> None:
    browser = _signed_in_as(hub)
    copied = browser.http.cookies["hub_session"]
    browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False)
    assert signed_in(browser)
    assert _refused(_replay(hub, copied))
    assert [row.ended_at is None for row in _rows(hub)] == [False, True]


def test_a_session_in_constant_use_ends_at_its_max_age(hub: LiveHub, clock: MovableClock) -> None:
    browser = _signed_in_as(hub)
    for _hour in range(11):
        clock.advance(hours=1)
        assert signed_in(browser)
    clock.advance(minutes=58)  # 11h58m after signing in, used a minute ago
    assert signed_in(browser)
    clock.advance(minutes=3)  # 12h01m: past HUB_SESSION_MAX_AGE however recently used
    assert not signed_in(browser)


def test_a_session_unused_for_the_idle_timeout_ends(hub: LiveHub, clock: MovableClock) -> None:
    browser = _signed_in_as(hub)
    copied = browser.http.cookies["hub_session"]
    clock.advance(hours=1, minutes=59)
    assert signed_in(browser)  # used within HUB_SESSION_IDLE: it lives, and the use counts
    clock.advance(hours=1, minutes=59)
    assert signed_in(browser)  # 3h58m after signing in, but never 2h idle
    clock.advance(hours=2, minutes=1)
    assert not signed_in(browser)
    assert _refused(_replay(hub, copied))


def test_last_use_is_written_at_most_once_a_minute(hub: LiveHub, clock: MovableClock) -> None:
    browser = _signed_in_as(hub)
    [row] = _rows(hub)
    first = aware(row.last_seen_at)
    clock.advance(seconds=30)
    for _ in range(3):
        assert signed_in(browser)
    assert aware(_rows(hub)[0].last_seen_at) == first  # no write per request
    clock.advance(seconds=31)
    assert signed_in(browser)
    assert aware(_rows(hub)[0].last_seen_at) >= first + timedelta(seconds=61)


def test_the_lifetimes_come_from_the_settings(hub: LiveHub, clock: MovableClock) -> None:
    settings = hub.app.extensions["settings"]
    hub.app.extensions["settings"] = dataclasses.replace(settings, session_max_age=timedelta(hours=1),
                                                         session_idle=timedelta(minutes=10))
    idle = _signed_in_as(hub)
    clock.advance(minutes=11)
    assert not signed_in(idle)
    busy = _signed_in_as(hub)
    for _ in range(6):
        clock.advance(minutes=9)
        assert signed_in(busy)
    clock.advance(minutes=7)  # 61 minutes after signing in
    assert not signed_in(busy)


def test_the_cookie_expires_with_the_sessions_max_age_however_often_it_is_sent_again(hub: LiveHub) -> None:
    browser = _signed_in_as(hub)
    serializer = hub.app.session_interface.get_signing_serializer(hub.app)
    contents = serializer.loads(browser.http.cookies["hub_session"])
    contents["auth_time"] -= 11 * 3600  # as if signed in 11 hours ago (the server's own record is fresh)
    answer = _replay(hub, serializer.dumps(contents))
    assert answer.status_code == 200
    expires = [part.split("=", 1)[1] for part in answer.headers["Set-Cookie"].split("; ")
               if part.lower().startswith("expires=")][0]
    left = parsedate_to_datetime(expires) - datetime.now(UTC)
    assert timedelta(minutes=58) < left <= timedelta(hours=1)  # not another 12 hours from this request


def test_sign_out_everywhere_ends_another_browsers_session_and_its_copies(hub: LiveHub) -> None:
    laptop, phone = _signed_in_as(hub), _signed_in_as(hub)
    copied = phone.http.cookies["hub_session"]
    answer = laptop.post("/account/sign-out-everywhere", data={"csrf_token": csrf_token(laptop.get("/account").text)})
    assert answer.status_code == 303
    assert not signed_in(laptop) and not signed_in(phone)
    assert _refused(_replay(hub, copied))
    assert len(_rows(hub)) == 2 and _open(hub) == 0


def test_disabling_the_user_ends_their_sessions_and_enabling_does_not_bring_them_back(hub: LiveHub) -> None:
    browser = _signed_in_as(hub)
    copied = browser.http.cookies["hub_session"]
    admin = _signed_in_as(hub, ADMIN)
    token = csrf_token(admin.get("/admin/users").text)
    user_id = _rows(hub)[0].user_id
    for action in ("disable", "enable"):
        assert admin.post(f"/admin/users/{user_id}/{action}", data={"csrf_token": token}).status_code == 303
    assert _open(hub) == 0
    assert not signed_in(browser)
    assert _refused(_replay(hub, copied))
    assert signed_in(admin)


@pytest.mark.parametrize("action", ["grant-admin", "revoke-admin"])
def test_changing_the_admin_role_on_the_admin_page_ends_the_users_sessions(hub: LiveHub, action: str) -> None:
    admin = _signed_in_as(hub, ADMIN)
    browser = _signed_in_as(hub)
    user_id = _rows(hub)[0].user_id
    if action == "revoke-admin":
        with hub.context() as session:
            session.get(User, user_id).is_admin = True
            session.commit()
    token = csrf_token(admin.get("/admin/users").text)
    assert admin.post(f"/admin/users/{user_id}/{action}", data={"csrf_token": token}).status_code == 303
    assert not signed_in(browser) and _open(hub) == 0
    assert signed_in(admin)
    again = _signed_in_as(hub)  # the new role holds from the next sign-in
    assert again.get("/admin/users").status_code == (200 if action == "grant-admin" else 403)


def test_asking_for_the_role_a_user_already_has_changes_nothing(hub: LiveHub) -> None:
    admin = _signed_in_as(hub, ADMIN)
    browser = _signed_in_as(hub)
    token = csrf_token(admin.get("/admin/users").text)
    assert admin.post(f"/admin/users/{_rows(hub)[0].user_id}/revoke-admin",
                      data={"csrf_token": token}).status_code == 303
    assert signed_in(browser)


def test_the_admin_cli_ends_the_users_sessions_on_grant_and_revoke(hub: LiveHub) -> None:
    browser = _signed_in_as(hub)
    for args in (["user", "admin", ADA_EMAIL], ["user", "admin", ADA_EMAIL, "--revoke"]):
        result = CliRunner().invoke(main, args, env=hub.env)
        assert result.exit_code == 0, result.output
        assert not signed_in(browser) and _open(hub) == 0
        browser = _signed_in_as(hub)


def test_sign_in_prunes_a_bounded_batch_of_rows_ended_or_expired_over_a_week_ago(hub: LiveHub) -> None:
    browser = _signed_in_as(hub)
    [live_row] = _rows(hub)
    now = datetime.now(UTC)
    week = timedelta(days=7, minutes=1)
    old = [{"ended_at": now - week}, {"created_at": now - timedelta(hours=12) - week},
           {"last_seen_at": now - timedelta(hours=2) - week}]
    kept = [{"ended_at": now - timedelta(days=6)}, {"created_at": now - timedelta(hours=13)}, {}]
    extra = [{"ended_at": now - week}] * (PRUNE_BATCH + 2)
    with hub.context() as session:
        for n, fields in enumerate(old + kept + extra):
            times = {"created_at": now - timedelta(hours=1), "last_seen_at": now - timedelta(hours=1), **fields}
            session.add(UserSession(id_hash=f"{n:064x}", user_id=live_row.user_id, **times))
        session.commit()
    sign_out(browser)  # ends live_row now: kept, it ended less than a week ago
    _signed_in_as(hub)
    with hub.context() as session:
        left = set(session.scalars(select(UserSession.id_hash)))
        assert session.scalar(select(func.count()).select_from(UserSession)) == len(left)
    assert live_row.id_hash in left
    assert {f"{n:064x}" for n in range(len(old), len(old) + len(kept))} <= left  # still within their week
    assert len(left) == 1 + len(kept) + 1 + (len(old) + len(extra) - PRUNE_BATCH)  # live, kept, new, the rest
    _signed_in_as(hub)  # the next sign-in takes the rest
    with hub.context() as session:
        assert session.scalar(select(func.count()).select_from(UserSession)) == 1 + len(kept) + 2
