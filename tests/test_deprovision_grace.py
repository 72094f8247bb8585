"""The grace period (hub/deprovision.py): an organisation's deactivated users are erased by the worker's sweep (the
reconcile job) once `hub org deprovisioning NAME --erase-after DAYS` have passed, not before; enabling them within
the grace period keeps everything deactivation kept. The hub's clock is moved, never slept on."""
from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from hub import deprovision, jobs, tenancy
from hub.cli import main
from hub.models import AuditEvent, Consent, Erasure, Identity, LmsAccount, OrgAdmin, Organisation, User
from tests.auth.helpers import ADA, callback_url, signed_in
from tests.clock import MovableClock, movable_clock
from tests.live import Browser, LiveHub
from tests.test_deprovision import ADA_EMAIL, _sign_in_ada


def _ada_in_org(live: LiveHub, erase_after: str | None) -> tuple[int, MovableClock]:
    """Ada signed in (an identity), in organisation Partner with groups, a consent, an LMS account and an admin
    role elsewhere; Partner's grace period set through the CLI."""
    clock = movable_clock(live.app)
    _browser, user_id = _sign_in_ada(live)
    with live.context() as session:
        partner, other = Organisation(name="Partner", policy="open"), Organisation(name="Other", policy="open")
        session.add_all([partner, other])
        session.flush()
        ada = session.get(User, user_id)
        ada.org_id, ada.groups = partner.id, ["staff", "mentors"]
        session.add_all([Consent(user_id=user_id, destination_kind="linkedin", choice="always", text_version="1"),
                         LmsAccount(user_id=user_id, home_page="https://lms.example.edu", external_id="42")])
        tenancy.set_org_admin(session, ada, other, grant=True)
        session.commit()
    if erase_after is not None:
        result = CliRunner().invoke(main, ["org", "deprovisioning", "Partner", "--erase-after", erase_after],
                                    env=live.env)
        assert result.exit_code == 0 and f"erase {erase_after} days after deactivation" in result.output, result.output
    return user_id, clock


def _disable(live: LiveHub, user_id: int) -> None:
    with live.context() as session:
        deprovision.disable(session, session.get(User, user_id), actor="test", reason="left")
        session.commit()


def _sweep(live: LiveHub) -> int:
    """The reconcile job, as the worker runs it every minute."""
    with live.app.app_context():
        return jobs.reconcile()["erased"]


def _erased(live: LiveHub, user_id: int) -> bool:
    with live.context() as session:
        return session.get(Erasure, user_id) is not None


def test_a_deactivated_user_is_erased_after_the_grace_period_and_not_before(live: LiveHub) -> None:
    user_id, clock = _ada_in_org(live, "30")
    _disable(live, user_id)
    assert _sweep(live) == 0
    clock.advance(days=29, hours=23)
    assert _sweep(live) == 0 and not _erased(live, user_id)
    clock.advance(hours=1, seconds=1)
    assert _sweep(live) == 1 and _erased(live, user_id)
    assert _sweep(live) == 0  # once
    with live.context() as session:
        user = session.get(User, user_id)
        assert (user.email, user.groups, user.status) == (None, [], "disabled")
        assert session.scalar(select(Identity).where(Identity.user_id == user_id)) is None
        grace = session.scalar(select(AuditEvent).where(AuditEvent.action == "user.erase.grace"))
        assert grace.user_id == user_id and grace.detail["erase_after_days"] == 30
        erase = session.scalar(select(AuditEvent).where(AuditEvent.action == "user.erase"))
        assert erase.actor == "deprovisioning: erase after 30 days"


def test_enabling_within_the_grace_period_keeps_everything_and_stops_the_clock(live: LiveHub) -> None:
    user_id, clock = _ada_in_org(live, "30")
    _disable(live, user_id)
    clock.advance(days=29)
    with live.context() as session:
        deprovision.enable(session, session.get(User, user_id), actor="test", reason="came back")
        session.commit()
    clock.advance(days=5)
    assert _sweep(live) == 0 and not _erased(live, user_id)
    with live.context() as session:
        ada = session.get(User, user_id)
        assert (ada.email, ada.status, ada.groups, ada.disabled_at) == (ADA_EMAIL, "active", ["staff", "mentors"],
                                                                        None)
        assert session.get(Organisation, ada.org_id).name == "Partner"
        assert session.scalar(select(Identity.provider).where(Identity.user_id == user_id)) == "google"
        assert session.scalar(select(LmsAccount.external_id).where(LmsAccount.user_id == user_id)) == "42"
        assert session.scalar(select(Consent.choice).where(Consent.user_id == user_id)) == "always"
        assert session.scalar(select(OrgAdmin.user_id).where(OrgAdmin.user_id == user_id)) == user_id
    # The same Google sign-in finds the same account.
    browser = Browser(live)
    assert browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False).status_code == 302
    assert signed_in(browser)
    with live.context() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
    # Deactivated again later, the grace period starts over from then.
    _disable(live, user_id)
    clock.advance(days=29)
    assert _sweep(live) == 0
    clock.advance(days=1, seconds=1)
    assert _sweep(live) == 1


def test_no_erasure_by_default_nor_with_never(live: LiveHub) -> None:
    user_id, clock = _ada_in_org(live, None)
    _disable(live, user_id)
    clock.advance(days=3650)
    assert _sweep(live) == 0
    with live.context() as session:  # the CLI reads the system clock: deactivated ten days ago by it
        ada = session.get(User, user_id)
        ada.disabled_at = ada.disabled_at - timedelta(days=10)
        session.commit()
    result = CliRunner().invoke(main, ["org", "deprovisioning", "Partner", "--erase-after", "7"], env=live.env)
    assert result.exit_code == 0 and "1 deactivated users are past the grace period" in result.output
    result = CliRunner().invoke(main, ["org", "deprovisioning", "Partner", "--never"], env=live.env)
    assert result.exit_code == 0 and "never erase deactivated users" in result.output, result.output
    assert _sweep(live) == 0 and not _erased(live, user_id)
    for bad in (["--erase-after", "0"], ["--erase-after", "7", "--never"], ["--erase-after", "x"]):
        assert CliRunner().invoke(main, ["org", "deprovisioning", "Partner", *bad], env=live.env).exit_code == 2
    unknown = CliRunner().invoke(main, ["org", "deprovisioning", "Nobody", "--never"], env=live.env)
    assert unknown.exit_code == 1 and "no organisation called 'Nobody'" in unknown.output
    with live.context() as session:
        assert session.scalar(select(Organisation.erase_after_days).where(Organisation.name == "Partner")) is None
        changes = list(session.scalars(select(AuditEvent.detail).where(AuditEvent.action == "org.deprovisioning")))
        assert changes == [{"org": "Partner", "erase_after_days": 7}, {"org": "Partner", "erase_after_days": None}]
