"""The admin console over HTTP: access, CSRF, validation beside fields, and every action audited."""
from __future__ import annotations

import re

from sqlalchemy import select

from hub.models import AuditEvent, Invite, Organisation, ProviderConfig, User
from tests.admin.conftest import ADA, GRACE, signed_in
from tests.live import Browser, LiveHub, csrf_token

PAGES = ["/admin/providers", "/admin/orgs", "/admin/approvals", "/admin/users", "/admin/audit"]


def _audits(hub: LiveHub, action: str) -> list[AuditEvent]:
    with hub.context() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_anonymous_is_sent_to_sign_in_and_non_admin_gets_403(hub: LiveHub) -> None:
    anonymous = Browser(hub)
    for path in PAGES:
        answer = anonymous.get(path)
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login?next="), path
    ada = signed_in(hub, ADA)
    for path in PAGES + ["/admin"]:
        answer = ada.get(path)
        assert answer.status_code == 403, path
        assert "have access to this page." in answer.text
    refused = ada.post("/admin/orgs", data={"csrf_token": csrf_token(ada.get("/account").text), "name": "X"})
    assert refused.status_code == 403
    with hub.context() as session:
        assert session.scalar(select(Organisation)) is None


def test_admin_sees_every_page_with_navigation(admin: Browser) -> None:
    assert admin.get("/admin").headers["Location"] == "/admin/providers"
    for path in PAGES:
        page = admin.get(path)
        assert page.status_code == 200, path
        assert page.headers["Cache-Control"] == "no-store"
        for label in ("Providers", "Organisations", "Approvals", "Users", "Sharing rules", "Deliveries", "Audit log"):
            assert f">{label}</a>" in page.text
        assert 'aria-current="page"' in page.text


def test_forms_need_the_csrf_token(hub: LiveHub, admin: Browser) -> None:
    answer = admin.post("/admin/orgs", data={"name": "No Token", "policy": "open"})
    assert answer.status_code == 400
    assert "Form expired" in answer.text
    with hub.context() as session:
        assert session.scalar(select(Organisation)) is None


def test_provider_errors_sit_beside_their_field_and_the_form_keeps_what_was_typed(hub: LiveHub,
                                                                                 admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/providers").text)
    answer = admin.post("/admin/providers", data={
        "csrf_token": token, "name": "Bad Name", "kind": "oidc", "client_id": "typed-client",
        "client_secret": "s3cret-value", "issuer": "", "scopes": "openid email", "profile_sync": "create"})
    assert answer.status_code == 400
    assert re.search(r'id="f-name-error">Name must be lowercase', answer.text)
    assert 'value="typed-client"' in answer.text and 'value="openid email"' in answer.text
    assert '<option value="create" selected>' in answer.text
    assert "s3cret-value" not in answer.text
    empty = admin.post("/admin/providers", data={"csrf_token": token, "kind": ""})
    assert empty.status_code == 400
    for field in ("name", "kind", "client_id", "client_secret"):
        assert f'id="f-{field}-error">' in empty.text and f'id="f-{field}" name="{field}"' in empty.text
    answer = admin.post("/admin/providers", data={
        "csrf_token": token, "name": "partner", "kind": "oidc", "client_id": "typed-client",
        "client_secret": "s3cret-value", "issuer": "http://idp.example.com", "options": "label=Partner"})
    assert answer.status_code == 400
    assert re.search(r'id="f-issuer-error">Issuer: ', answer.text)
    answer = admin.post("/admin/providers", data={
        "csrf_token": token, "name": "partner", "kind": "oidc", "client_id": "c", "client_secret": "x",
        "issuer": "https://idp.example.com", "options": "no equals sign"})
    assert answer.status_code == 400 and 'id="f-options-error"' in answer.text
    with hub.context() as session:
        assert session.scalar(select(ProviderConfig).where(ProviderConfig.name == "partner")) is None
    assert [e.outcome for e in _audits(hub, "provider.add")] == ["failure"] * 4


def test_provider_add_disable_enable(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/providers").text)
    answer = admin.post("/admin/providers", data={
        "csrf_token": token, "name": "partner", "kind": "oidc", "client_id": "partner-client",
        "client_secret": "never-shown", "issuer": "https://idp.partner.example", "scopes": "openid email",
        "hidden": "on", "profile_sync": "create", "options": "label=Partner SSO"})
    assert answer.status_code == 303, answer.text
    page = admin.get("/admin/providers").text
    assert "Provider partner (oidc) saved" in page and f"{hub.url}/auth/partner/callback" in page
    assert "partner-client" in page and "never-shown" not in page
    with hub.context() as session:
        row = session.scalar(select(ProviderConfig).where(ProviderConfig.name == "partner"))
        assert row.hidden and row.profile_sync == "create" and row.scopes == ["openid", "email"]
        assert row.options == {"label": "Partner SSO"} and "never-shown" not in row.client_secret_sealed
    assert admin.post("/admin/providers/partner/disable", data={"csrf_token": token}).status_code == 303
    assert "Provider partner disabled." in admin.get("/admin/providers").text
    assert Browser(hub).get("/login/partner").status_code == 404
    admin.post("/admin/providers/partner/enable", data={"csrf_token": token})
    with hub.context() as session:
        assert session.scalar(select(ProviderConfig.enabled).where(ProviderConfig.name == "partner")) is True
    assert [e.actor for e in _audits(hub, "provider.disable")] == ["admin@hub.example"]
    assert len(_audits(hub, "provider.enable")) == 1


def test_organisation_policy_invite_and_mapping(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/orgs").text)
    bad = admin.post("/admin/orgs", data={"csrf_token": token, "name": "Partner", "domains": "not a domain!",
                                          "policy": "domain"})
    assert bad.status_code == 400
    assert 'id="org-domains-error"' in bad.text and 'value="Partner"' in bad.text
    added = admin.post("/admin/orgs", data={"csrf_token": token, "name": "Partner",
                                            "domains": "partner.example, partner.test", "policy": "domain",
                                            "provider": "google"})
    assert added.status_code == 303
    detail = admin.get(added.headers["Location"]).text
    assert "Organisation Partner added (domain)." in detail and "partner.test" in detail
    with hub.context() as session:
        org = session.scalar(select(Organisation).where(Organisation.name == "Partner"))
        assert {d.domain for d in org.domains} == {"partner.example", "partner.test"}
        assert {d.provider for d in org.domains} == {"google"}
        org_id = org.id
    admin.post(f"/admin/orgs/{org_id}/policy", data={"csrf_token": token, "policy": "invite"})
    with hub.context() as session:
        assert session.get(Organisation, org_id).policy == "invite"
    created = admin.post(f"/admin/orgs/{org_id}/invites", data={"csrf_token": token, "days": "7", "email": ""})
    assert created.status_code == 200
    code = re.search(r'id="invite-code" type="text" readonly value="(inv_[^"]+)"', created.text).group(1)
    assert f"/login?invite={code}" in created.text
    assert code not in admin.get(f"/admin/orgs/{org_id}").text  # shown once
    with hub.context() as session:
        assert session.scalar(select(Invite).where(Invite.org_id == org_id)).code_hash != code
    mapped = admin.post("/admin/mappings", data={"csrf_token": token, "provider": "google", "claim": "hd",
                                                 "value": "partner.example", "org": str(org_id), "group": ""})
    assert mapped.status_code == 303
    listing = admin.get("/admin/orgs").text
    assert "Mapped google hd=partner.example." in listing and "<code>partner.example</code>" in listing
    again = admin.post("/admin/mappings", data={"csrf_token": token, "provider": "google", "claim": "hd",
                                                "value": "x.example", "org": "", "group": ""})
    assert again.status_code == 400 and "an organisation or a group" in again.text
    actions = {e.action for e in _audits(hub, "org.add")} | {e.action for e in _audits(hub, "invite.create")}
    assert actions == {"org.add", "invite.create"}
    assert [e.outcome for e in _audits(hub, "org.policy")] == ["success"]


def test_approve_and_reject_pending_users(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/orgs").text)
    admin.post("/admin/orgs", data={"csrf_token": token, "name": "Gmail", "domains": "gmail.example",
                                    "policy": "approval"})
    waiting = Browser(hub).sign_in("google", user=GRACE)
    assert waiting.status_code == 202
    page = admin.get("/admin/approvals").text
    assert 'data-email="grace@gmail.example"' in page
    with hub.context() as session:
        grace = session.scalar(select(User).where(User.email == "grace@gmail.example"))
    answer = admin.post(f"/admin/users/{grace.id}/approve", data={"csrf_token": token, "back": "approvals"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/approvals"
    page = admin.get("/admin/approvals").text
    assert "grace@gmail.example approved." in page and 'id="no-pending"' in page
    assert Browser(hub).sign_in("google", user=GRACE).status_code == 302  # now active
    again = admin.post(f"/admin/users/{grace.id}/reject", data={"csrf_token": token})
    assert "is active, not pending" in admin.get(again.headers["Location"]).text
    assert [e.outcome for e in _audits(hub, "user.approve")] == ["success"]
    assert [e.outcome for e in _audits(hub, "user.reject")] == ["failure"]


def test_users_search_filter_paging_and_actions(hub: LiveHub, admin: Browser) -> None:
    with hub.context() as session:
        session.add_all(User(email=f"learner{n:02d}@school.example", name=f"Learner {n}",
                             status="disabled" if n % 10 == 0 else "active") for n in range(30))
        session.commit()
        target = session.scalar(select(User).where(User.email == "learner07@school.example")).id
    first = admin.get("/admin/users", params={"q": "school"}).text
    assert "1–25 of 30" in first and "learner24@" in first and "learner25@" not in first
    second = admin.get("/admin/users", params={"q": "school", "page": "2"}).text
    assert "26–30 of 30" in second and "learner29@" in second
    disabled = admin.get("/admin/users", params={"status": "disabled"}).text
    assert "1–3 of 3" in disabled and "learner10@" in disabled and "learner11@" not in disabled
    assert "learner07@" in admin.get("/admin/users", params={"q": "Learner 7"}).text
    token = csrf_token(first)
    for action in ("disable", "enable", "grant-admin", "revoke-admin"):
        assert admin.post(f"/admin/users/{target}/{action}", data={"csrf_token": token}).status_code == 303
    with hub.context() as session:
        user = session.get(User, target)
        # disable, grant-admin and revoke-admin each ended the user's sessions (hub.auth.sessions)
        assert user.status == "active" and not user.is_admin and user.session_epoch == 3
    me = admin.get("/admin/users", params={"q": "admin@hub.example"}).text
    my_id = re.search(r'href="/admin/users/(\d+)"', me).group(1)
    admin.post(f"/admin/users/{my_id}/disable", data={"csrf_token": token})
    assert "disable your own account." in admin.get(f"/admin/users/{my_id}").text
    detail = admin.get(f"/admin/users/{my_id}").text
    assert "110169484474386276337" in detail  # the identity's subject
    assert [e.action for e in _audits(hub, "user.disable")] == ["user.disable", "user.disable"]


def test_audit_log_is_newest_first_filtered_and_paged(hub: LiveHub, admin: Browser) -> None:
    from hub import audit

    with hub.app.test_request_context():
        refs = [audit.record("test.event", "success" if n % 2 else "failure", actor="test") for n in range(60)]
    page = admin.get("/admin/audit", params={"action": "test.event"}).text
    assert "1–50 of 60" in page
    shown = re.findall(r'<code class="ref">([0-9a-f]+)</code>', page)
    assert shown[:3] == refs[::-1][:3]
    failures = admin.get("/admin/audit", params={"action": "test.event", "outcome": "failure"}).text
    assert "1–30 of 30" in failures
    one = admin.get("/admin/audit", params={"ref": refs[5]}).text
    assert re.findall(r'<code class="ref">([0-9a-f]+)</code>', one) == [refs[5]]
    assert "login" in admin.get("/admin/audit").text  # the admin's own sign-in
