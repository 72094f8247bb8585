"""Every redirect URI a provider's app must register (sign-in and connect), as `hub provider add` prints it and the
console's providers page shows it; organisation admins never see the page (issue 13)."""
from __future__ import annotations

import html

from click.testing import CliRunner
from sqlalchemy import select

from hub import orgs, tenancy
from hub.cli import main
from hub.models import User
from tests.admin.conftest import ADA, signed_in
from tests.live import Browser, LiveHub, csrf_token


def _add(live: LiveHub, name: str, kind: str) -> str:
    result = CliRunner().invoke(main, ["provider", "add", name, "--kind", kind, "--client-id", f"cid-{name}",
                                       "--client-secret", "s3cret"], env=live.env)
    assert result.exit_code == 0, result.output
    return result.output


def _listed(output: str) -> list[str]:
    """The URIs on the indented lines under 'Register every one of these redirect URIs'."""
    return [line.split()[0] for line in output.splitlines() if line.startswith("  ")]


def test_provider_add_prints_the_sign_in_and_every_connect_redirect_uri(live: LiveHub) -> None:
    microsoft = _add(live, "entra", "microsoft")
    assert "Register every one of these redirect URIs" in microsoft
    # Viva Engage has no sign-in: it connects through the Microsoft app, which must register its callback too.
    assert _listed(microsoft) == [f"{live.url}/auth/entra/callback", f"{live.url}/connect/yammer/callback"]
    assert "(sign-in)" in microsoft and "(connecting Viva Engage for posting)" in microsoft

    assert _listed(_add(live, "li", "linkedin")) == [f"{live.url}/auth/li/callback",
                                                     f"{live.url}/connect/linkedin/callback"]
    assert _listed(_add(live, "x", "x")) == [f"{live.url}/auth/x/callback", f"{live.url}/connect/x/callback"]
    assert _listed(_add(live, "slack", "slack")) == [f"{live.url}/auth/slack/callback",
                                                     f"{live.url}/connect/slack/callback"]
    assert _listed(_add(live, "g", "google")) == [f"{live.url}/auth/g/callback"]  # Google cannot post: sign-in only


def test_the_providers_page_lists_every_redirect_uri_and_saving_says_them(hub: LiveHub, admin: Browser) -> None:
    _add(hub, "entra", "microsoft")
    page = html.unescape(admin.get("/admin/providers").text)
    for uri in (f"{hub.url}/auth/google/callback", f"{hub.url}/auth/entra/callback",
                f"{hub.url}/connect/yammer/callback"):
        assert f"<code>{uri}</code>" in page, uri
    assert "connecting Viva Engage for posting" in page

    form = {"csrf_token": csrf_token(page), "name": "li", "kind": "linkedin", "client_id": "cid-li",
            "client_secret": "s3cret", "profile_sync": "always"}
    saved = admin.post("/admin/providers", data=form, allow_redirects=True)
    assert saved.status_code == 200, saved.text
    flash = html.unescape(saved.text)
    assert f"{hub.url}/auth/li/callback (sign-in)" in flash
    assert f"{hub.url}/connect/linkedin/callback (connecting LinkedIn for posting)" in flash


def test_an_organisation_admin_never_sees_the_providers_page(hub: LiveHub) -> None:
    """Across the wall: the redirect URIs (and the page) are the hub admin's alone; an org admin gets 404."""
    browser = signed_in(hub, ADA)
    with hub.context() as session:
        org = orgs.add_org(session, "Partner Co", ["partner.example"], "open")
        ada = session.scalar(select(User).where(User.email == "ada@partner.example"))
        ada.org_id = org.id
        tenancy.set_org_admin(session, ada, org, grant=True)
        session.commit()
    assert browser.get("/admin/users").status_code == 200  # she is an organisation admin
    page = browser.get("/admin/providers")
    assert page.status_code == 404 and "/connect/" not in page.text and "/auth/google/callback" not in page.text
