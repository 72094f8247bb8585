"""Provisioning rules end to end: organisation policies, claim mappings, home-realm discovery, hidden
providers, profile sync, disabled providers, email collisions and invitation throttling."""
from __future__ import annotations

import html
from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner
from sqlalchemy import select

from hub.auth.throttle import PER_IP
from hub.cli import main
from hub.models import AuditEvent, Identity, Invite, User
from tests.auth.helpers import (
    ADA,
    GRACE,
    add_sandbox_user,
    assert_refused,
    callback_url,
    counts,
    sign_out,
    signed_in,
)
from tests.clock import movable_clock
from tests.live import Browser, LiveHub, csrf_token


def hub(live: LiveHub, *args: str) -> str:
    """Run the `hub` command against this test's database and Redis; returns its output."""
    result = CliRunner().invoke(main, list(args), env=live.env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def sign_in(live: LiveHub, user: str, provider: str = "google", browser: Browser | None = None,
            **params: str):  # type: ignore[no-untyped-def]
    browser = browser or Browser(live)
    return browser, browser.http.get(callback_url(browser, provider, user, **params), allow_redirects=False)


def user_by_email(live: LiveHub, email: str) -> User | None:
    with live.context() as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is not None:
            _ = (user.org, user.identities)  # load before the session closes
        return user


# --- organisation policies -------------------------------------------------------------------
def test_open_policy_places_a_verified_newcomer_by_domain(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Partner", "--domain", "partner.example", "--policy", "open")
    browser, answer = sign_in(live, ADA)
    assert answer.status_code == 302 and signed_in(browser)
    assert user_by_email(live, "ada@partner.example").org.name == "Partner"


def test_closed_organisation_refuses_a_newcomer(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Closed Co", "--domain", "partner.example", "--policy", "closed")
    browser, answer = sign_in(live, ADA)
    assert_refused(live, browser, answer, status=403, message="Closed Co is not accepting sign-ins.",
                   reason="org_closed")


def test_closed_organisation_refuses_an_existing_member(live: LiveHub) -> None:
    """Closing an organisation deprovisions its members (issue 5): the member's next sign-in meets a disabled
    account. A newcomer meets the closed organisation (test_closed_organisation_refuses_newcomers)."""
    live.add_provider("google")
    hub(live, "org", "add", "Partner", "--domain", "partner.example", "--policy", "open")
    browser, answer = sign_in(live, ADA)
    assert answer.status_code == 302
    sign_out(browser)
    hub(live, "org", "policy", "Partner", "closed")
    assert user_by_email(live, "ada@partner.example").status == "disabled"
    _, answer = sign_in(live, ADA, browser=browser)
    assert_refused(live, browser, answer, status=403, message="This account is disabled.",
                   reason="user_disabled", users=1, identities=1)


def test_domain_policy_admits_verified_emails_of_its_domains_only(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Partner", "--domain", "partner.example", "--policy", "domain")
    # The hd claim maps to the organisation, but the email is of another domain.
    hub(live, "org", "map", "Partner", "--provider", "google", "--claim", "hd", "--value", "partner.example")
    live.sandboxes["google"].faults.id_token_claims = (
        lambda c: {**c, "hd": "partner.example"} if c["sub"] == GRACE else c)
    browser, answer = sign_in(live, GRACE)
    assert_refused(live, browser, answer, status=403, reason="domain_required",
                   message="Partner accepts only verified emails of its own domains.")
    browser, answer = sign_in(live, ADA)
    assert answer.status_code == 302 and signed_in(browser)
    assert user_by_email(live, "ada@partner.example").org.name == "Partner"


def test_invite_policy_needs_a_one_time_code(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Guild", "--domain", "gmail.example", "--policy", "invite")
    browser, answer = sign_in(live, GRACE)
    assert_refused(live, browser, answer, status=403, message="Guild requires an invitation.",
                   reason="invite_required")
    code = hub(live, "invite", "create", "--org", "Guild").split()[0]
    assert code.startswith("inv_")
    browser, answer = sign_in(live, GRACE, invite=code)
    assert answer.status_code == 302, answer.text
    assert signed_in(browser)
    assert user_by_email(live, "grace@gmail.example").org.name == "Guild"
    with live.context() as session:
        invite = session.scalar(select(Invite))
        assert invite.used_at is not None
        assert invite.used_by == session.scalar(select(User.id).where(User.email == "grace@gmail.example"))
    # The same code a second time, by somebody else: refused, nothing created.
    other = add_sandbox_user(live, "google", sub="110169484474386276399", email="gwen@gmail.example",
                             email_verified=True, name="Gwen")
    browser, answer = sign_in(live, other, invite=code)
    assert_refused(live, browser, answer, status=403, message="Guild requires an invitation.",
                   reason="invite_required", users=1, identities=1)


def test_an_invite_expires_after_its_days_by_the_hubs_clock(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Guild", "--domain", "gmail.example", "--policy", "invite")
    code = hub(live, "invite", "create", "--org", "Guild", "--days", "1").split()[0]
    movable_clock(live.app).advance(days=1, seconds=1)
    browser, answer = sign_in(live, GRACE, invite=code)
    assert_refused(live, browser, answer, status=403, message="Guild requires an invitation.",
                   reason="invite_required")
    with live.context() as session:
        assert session.scalar(select(Invite)).used_at is None


def test_invite_code_from_the_sign_in_page_reaches_the_callback(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Guild", "--domain", "gmail.example", "--policy", "invite")
    code = hub(live, "invite", "create", "--org", "Guild").split()[0]
    browser = Browser(live)
    page = browser.get("/login", params={"invite": code})
    assert f"invite={code}" in html.unescape(page.text)
    start = browser.get(f"/login/google?invite={code}")
    answer = browser.http.get(browser.pick_user(start.headers["Location"], GRACE), allow_redirects=False)
    assert answer.status_code == 302 and signed_in(browser)


def test_thirty_one_wrong_invite_codes_are_throttled(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Guild", "--domain", "gmail.example", "--policy", "invite")
    code = hub(live, "invite", "create", "--org", "Guild").split()[0]
    browser = Browser(live)
    for attempt in range(PER_IP):
        _, answer = sign_in(live, GRACE, browser=browser, invite=f"inv_guess{attempt}")
        assert answer.status_code == 403, (attempt, answer.text)
    _, answer = sign_in(live, GRACE, browser=browser, invite="inv_guess31")
    assert_refused(live, browser, answer, status=429, message="Too many invalid invitation codes.",
                   reason="too_many_attempts")
    # While throttled even the right code waits: the throttle must not become an oracle.
    _, answer = sign_in(live, GRACE, browser=browser, invite=code)
    assert answer.status_code == 429
    with live.context() as session:
        assert session.scalar(select(Invite)).used_at is None


def test_invite_throttle_also_counts_per_organisation(live: LiveHub) -> None:
    """Guesses spread over many addresses still add up against the organisation."""
    from hub import redis_conn
    from hub.auth.throttle import InviteThrottle, TooManyAttempts

    with live.app.app_context():
        connection = redis_conn.get()
        for address in range(5):
            throttle = InviteThrottle(connection, f"198.51.100.{address}", per_org=5)
            throttle.check(7)
            throttle.failed(7)
        fresh = InviteThrottle(connection, "203.0.113.9", per_org=5)
        try:
            fresh.check(7)
        except TooManyAttempts as exc:
            assert exc.status == 429
        else:
            raise AssertionError("the organisation's limit was not enforced")
        fresh.check(8)  # another organisation is unaffected


def test_approval_policy_creates_a_pending_user_without_a_session(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Partner", "--domain", "partner.example", "--policy", "approval")
    browser, answer = sign_in(live, ADA)
    assert answer.status_code == 202, answer.text
    assert "Partner" in answer.text
    assert not signed_in(browser)
    assert user_by_email(live, "ada@partner.example").status == "pending"
    again, answer = sign_in(live, ADA)  # still waiting
    assert answer.status_code == 202 and not signed_in(again)
    assert "ada@partner.example: approve" in hub(live, "user", "approve", "ada@partner.example")
    browser, answer = sign_in(live, ADA)
    assert answer.status_code == 302 and signed_in(browser)
    assert user_by_email(live, "ada@partner.example").status == "active"


# --- claim mappings, home-realm discovery, hidden providers, profile sync -----------------------
def test_claim_maps_to_an_organisation_and_a_group(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Mapped", "--policy", "open")
    hub(live, "org", "map", "Mapped", "--provider", "google", "--claim", "hd", "--value", "partner.example")
    hub(live, "org", "map", "--provider", "google", "--claim", "hd", "--value", "partner.example",
        "--group", "partners")
    _, answer = sign_in(live, ADA)
    assert answer.status_code == 302
    ada = user_by_email(live, "ada@partner.example")
    assert ada.org.name == "Mapped" and ada.groups == ["partners"]
    _, answer = sign_in(live, GRACE)  # no hd claim: no organisation, no group
    grace = user_by_email(live, "grace@gmail.example")
    assert grace.org is None and grace.groups == []


def test_home_realm_discovery_sends_a_known_domain_to_its_provider(live: LiveHub) -> None:
    live.add_provider("google")
    hub(live, "org", "add", "Partner", "--domain", "partner.example", "--provider", "google")
    browser = Browser(live)
    token = csrf_token(browser.get("/login").text)
    answer = browser.post("/login", data={"csrf_token": token, "email": "ada@partner.example", "next": "/account"})
    assert answer.status_code == 302, answer.text
    target = urlsplit(answer.headers["Location"])
    assert target.path == "/login/google"
    assert parse_qs(target.query)["login_hint"] == ["ada@partner.example"]
    onward = browser.get(answer.headers["Location"])
    assert parse_qs(urlsplit(onward.headers["Location"]).query)["login_hint"] == ["ada@partner.example"]
    unknown = browser.post("/login", data={"csrf_token": token, "email": "someone@elsewhere.example"})
    assert unknown.status_code == 200 and "We don't know a sign-in for that address yet" in html.unescape(unknown.text)


def test_hidden_provider_is_off_the_sign_in_page_but_links_from_the_account(live: LiveHub) -> None:
    live.add_provider("google")
    live.add_provider("oidc", hidden=True)
    browser = Browser(live)
    page = browser.get("/login").text
    assert 'data-provider="google"' in page and 'data-provider="oidc"' not in page
    direct = Browser(live).get("/login/oidc")
    assert direct.status_code == 404 and "only be linked" in direct.text
    _, answer = sign_in(live, ADA, browser=browser)
    assert answer.status_code == 302
    account = browser.get("/account").text
    assert "/login/oidc?link=1" in html.unescape(account)
    olive = live.sandboxes["oidc"].users[0]["sub"]
    answer = browser.http.get(callback_url(browser, "oidc", olive, link="1", next="/account"), allow_redirects=False)
    assert answer.status_code == 302 and answer.headers["Location"] == "/account"
    ada = user_by_email(live, "ada@partner.example")
    assert sorted(i.provider for i in ada.identities) == ["google", "oidc"]
    assert counts(live) == (1, 2)


def test_profile_sync_create_keeps_the_first_profile(live: LiveHub) -> None:
    live.add_provider("google", profile_sync="create")
    _, answer = sign_in(live, ADA)
    assert answer.status_code == 302
    live.sandboxes["google"].faults.id_token_claims = lambda c: {**c, "name": "Ada King"}
    _, answer = sign_in(live, ADA)
    assert answer.status_code == 302
    assert user_by_email(live, "ada@partner.example").name == "Ada Lovelace"


def test_profile_sync_always_refreshes_the_profile(live: LiveHub) -> None:
    live.add_provider("google", profile_sync="always")
    _, answer = sign_in(live, ADA)
    assert answer.status_code == 302
    live.sandboxes["google"].faults.id_token_claims = lambda c: {**c, "name": "Ada King"}
    _, answer = sign_in(live, ADA)
    assert answer.status_code == 302
    assert user_by_email(live, "ada@partner.example").name == "Ada King"


# --- collisions and disabled providers ----------------------------------------------------------
def test_unverified_email_of_an_existing_account_is_refused(live: LiveHub) -> None:
    live.add_provider("google")
    live.add_provider("oidc")
    _, answer = sign_in(live, ADA)
    assert answer.status_code == 302
    impostor = add_sandbox_user(live, "oidc", sub="oidc-impostor", email="ADA@partner.example",
                                email_verified=False, name="Not Ada")
    browser, answer = sign_in(live, impostor, provider="oidc")
    assert_refused(live, browser, answer, status=403,
                   message="Sign in with the method you used before, then link this one from your account page.",
                   reason="unverified_email_collision", users=1, identities=1)
    with live.context() as session:
        assert session.scalar(select(Identity).where(Identity.provider == "oidc")) is None


def test_disabled_provider_refuses_login_and_callback(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    pending = callback_url(browser, "google", ADA)  # a login already under way when the admin disables it
    assert "provider google disabled" in hub(live, "provider", "disable", "google")
    assert 'data-provider="google"' not in browser.get("/login").text
    answer = browser.http.get(pending, allow_redirects=False)
    assert_refused(live, browser, answer, status=404, message="That sign-in method is not available.",
                   reason="provider_unavailable")
    answer = browser.get("/login/google")
    assert_refused(live, browser, answer, status=404, message="That sign-in method is not available.",
                   reason="provider_unavailable")
    assert live.sandboxes["google"].token_requests == 0
    with live.context() as session:
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "provider.disable")) is not None


def test_invite_places_a_newcomer_whose_domain_belongs_to_no_organisation(live: LiveHub) -> None:
    """An invitation is for its organisation: a partner invited with a gmail address joins it."""
    live.add_provider("google")
    hub(live, "org", "add", "Guild", "--policy", "invite")
    code = hub(live, "invite", "create", "--org", "Guild").split()[0]
    browser, answer = sign_in(live, GRACE, invite=code)
    assert answer.status_code == 302 and signed_in(browser)
    assert user_by_email(live, "grace@gmail.example").org.name == "Guild"
    other = add_sandbox_user(live, "google", sub="110169484474386276399", email="gwen@gmail.example",
                             email_verified=True, name="Gwen")
    browser, answer = sign_in(live, other, invite=code)  # spent: refused, not an account outside the org
    assert_refused(live, browser, answer, status=403, message="Guild requires an invitation.",
                   reason="invite_required", users=1, identities=1)


def test_one_invite_code_raced_by_several_browsers_admits_one(live: LiveHub) -> None:
    """The code is spent by a conditional update, so concurrent callbacks can't all use it."""
    import threading

    live.add_provider("google")
    hub(live, "org", "add", "Guild", "--policy", "invite")
    code = hub(live, "invite", "create", "--org", "Guild").split()[0]
    racers = []
    for n in range(4):
        sub = add_sandbox_user(live, "google", sub=f"race-{n}", email=f"racer{n}@gmail.example",
                               email_verified=True, name=f"Racer {n}")
        browser = Browser(live)
        racers.append((browser, callback_url(browser, "google", sub, invite=code)))
    barrier, answers = threading.Barrier(len(racers)), []

    def go(browser: Browser, url: str) -> None:
        barrier.wait()
        answers.append(browser.http.get(url, allow_redirects=False).status_code)

    threads = [threading.Thread(target=go, args=racer) for racer in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(302) == 1, answers
    with live.context() as session:
        members = session.scalars(select(User).where(User.org_id.is_not(None))).all()
    assert len(members) == 1


def test_a_disabled_user_is_refused_and_their_sessions_end(live: LiveHub) -> None:
    live.add_provider("google")
    browser, answer = sign_in(live, ADA)
    assert answer.status_code == 302 and signed_in(browser)
    hub(live, "user", "disable", "ada@partner.example")
    assert not signed_in(browser)
    again, answer = sign_in(live, ADA)
    assert_refused(live, again, answer, status=403, message="This account is disabled.", reason="user_disabled",
                   users=1, identities=1)
