"""The admin console in a real browser: sign in as admin, add an organisation, approve a pending user,
read the audit log; every page passes axe and fits a phone and a desktop."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.models import AuditEvent, User
from tests.browser.conftest import (
    ADA_SUB,
    ADMIN_SUB,
    DESKTOP,
    GRACE_SUB,
    PHONE,
    Pages,
    no_horizontal_overflow,
    screenshot,
    sign_in,
)
from tests.live import LiveHub

NAV = ["Providers", "Organisations", "Approvals", "Users", "Sharing rules", "Tiles", "Deliveries", "Audit log"]


def _nav(page: Any, label: str) -> None:
    page.get_by_role("navigation", name="Admin sections").get_by_role("link", name=label, exact=True).click()
    page.wait_for_load_state()
    assert page.locator('.admin-nav a[aria-current="page"]').inner_text() == label


def test_admin_adds_an_organisation_approves_a_user_and_reads_the_audit_log(
        live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    admin = pages.new()
    sign_in(admin, live, ADMIN_SUB)
    admin.get_by_role("link", name="Admin", exact=True).click()
    admin.wait_for_url(live.url + "/admin/providers")
    rows = admin.locator("#providers-table tbody tr")
    assert rows.count() == 1 and "client-google" in rows.first.inner_text()
    assert [a.inner_text() for a in admin.locator(".admin-nav a").all()] == NAV
    axe(admin, "the providers page")
    axe(admin, "the provider form with errors", prepare=lambda twin: (
        twin.fill("#f-name", "Not Valid"), twin.click("text=Save provider"), twin.wait_for_load_state()))
    screenshot(admin, "admin-providers")

    # Add an organisation whose people wait for approval.
    _nav(admin, "Organisations")
    admin.get_by_label("Name").fill("Gmail Partners")
    admin.get_by_label("Email domains").fill("gmail.example")
    admin.get_by_label("Policy").select_option("approval")
    admin.get_by_role("button", name="Add organisation").click()
    admin.wait_for_load_state()
    assert "Organisation Gmail Partners added (approval)." in admin.locator(".flashes").inner_text()
    assert admin.locator("h1").inner_text() == "Gmail Partners"
    admin.get_by_label("For (email)").fill("grace@gmail.example")
    admin.get_by_role("button", name="Create invitation").click()
    admin.wait_for_load_state()
    assert admin.locator("#invite-code").input_value().startswith("inv_")
    screenshot(admin, "admin-organisation")
    axe(admin, "the organisation page")
    _nav(admin, "Organisations")
    assert "Gmail Partners" in admin.locator("#orgs-table").inner_text()
    axe(admin, "the organisations page")
    screenshot(admin, "admin-organisations")

    # Grace signs in (another browser) and waits; the admin approves her.
    grace = pages.new()
    sign_in(grace, live, GRACE_SUB)
    assert grace.locator("h1").inner_text() == "Almost there"
    _nav(admin, "Approvals")
    row = admin.locator('tr[data-email="grace@gmail.example"]')
    assert "Gmail Partners" in row.inner_text()
    axe(admin, "the approvals page")
    screenshot(admin, "admin-approvals")
    row.get_by_role("button", name="Approve").click()
    admin.wait_for_load_state()
    assert "grace@gmail.example approved." in admin.locator(".flashes").inner_text()
    assert admin.locator("#no-pending").is_visible()
    with live.context() as session:
        assert session.scalar(select(User.status).where(User.email == "grace@gmail.example")) == "active"
    sign_in(grace, live, GRACE_SUB)
    assert grace.url == live.url + "/account"

    # Users: search, then the detail page.
    _nav(admin, "Users")
    admin.get_by_label("Email or name").fill("grace")
    admin.get_by_role("button", name="Search").click()
    admin.wait_for_load_state()
    assert admin.locator("#users-table tbody tr").count() == 1
    axe(admin, "the users page")
    _nav(admin, "Users")
    screenshot(admin, "admin-users")
    admin.get_by_role("link", name="grace@gmail.example").click()
    admin.wait_for_load_state()
    assert "110169484474386276335" in admin.locator("#identities-table").inner_text()
    axe(admin, "the user page")
    screenshot(admin, "admin-user")

    # The audit log names both actions, newest first, with their references.
    _nav(admin, "Audit log")
    actions = admin.locator("#audit-table tbody tr td:nth-child(3)").all_inner_texts()
    assert actions.index("user.approve") < actions.index("invite.create") < actions.index("org.add")
    admin.get_by_label("Action").select_option("org.add")
    admin.get_by_role("button", name="Filter").click()
    admin.wait_for_load_state()
    shown = admin.locator("#audit-table code.ref").all_inner_texts()
    with live.context() as session:
        assert shown == list(session.scalars(select(AuditEvent.ref).where(AuditEvent.action == "org.add")))
    axe(admin, "the audit log")
    _nav(admin, "Audit log")
    screenshot(admin, "admin-audit-log")


def test_a_non_admin_is_refused(live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    page = pages.new()
    sign_in(page, live, ADA_SUB)
    assert page.get_by_role("link", name="Admin", exact=True).count() == 0
    answer = page.goto(live.url + "/admin/users")
    assert answer is not None and answer.status == 403
    assert page.locator("h1").inner_text() == "Not allowed"
    axe(page, "the 403 page")


def test_every_page_fits_a_phone_and_a_desktop(live: LiveHub, pages: Pages) -> None:
    live.add_provider("google")
    with live.context() as session:  # enough rows that the wide tables must scroll inside their wrapper
        session.add_all(User(email=f"learner{n}@a-rather-long-school-domain.example", name=f"Learner {n}")
                        for n in range(30))
        session.commit()
    page = pages.new(viewport=PHONE)
    sign_in(page, live, ADMIN_SUB)
    paths = ["/login", "/account", "/admin/providers", "/admin/orgs", "/admin/approvals", "/admin/users",
             "/admin/audit"]
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        for path in paths:
            page.goto(live.url + path)
            width, inner = no_horizontal_overflow(page)
            assert width <= inner, f"{path} overflows sideways at {viewport['width']}px ({width} > {inner})"
            nav = page.locator(".admin-nav")
            if path.startswith("/admin") and viewport is PHONE:
                # The navigation sits above the content on a phone, beside it on a desktop.
                assert nav.bounding_box()["y"] < page.locator(".admin-body").bounding_box()["y"]
            elif path.startswith("/admin"):
                assert nav.bounding_box()["x"] + nav.bounding_box()["width"] <= \
                    page.locator(".admin-body").bounding_box()["x"]
        if viewport is PHONE:
            page.goto(live.url + "/admin/users")
            wrap = page.locator(".table-wrap").first
            assert wrap.evaluate("e => e.scrollWidth > e.clientWidth")  # the table scrolls in its wrapper
            screenshot(page, "admin-users-phone", full_page=False)


def test_an_organisation_admin_sees_only_their_organisation(live: LiveHub, pages: Pages, axe: Any) -> None:
    """Ada administers Partner Co: the header's Admin link opens her organisation, the navigation leaves out the
    hub's pages, her users list holds only Partner Co's people, and another organisation's page is not there."""
    from hub import orgs, tenancy

    live.add_provider("google")
    with live.context() as session:
        partner = orgs.add_org(session, "Partner Co", ["partner.example"], "open")
        other = orgs.add_org(session, "Gmail Partners", ["gmail.example"], "open")
        session.commit()
        partner_id, other_id = partner.id, other.id
    grace = pages.new()
    sign_in(grace, live, GRACE_SUB)  # a member of the other organisation
    ada = pages.new()
    sign_in(ada, live, ADA_SUB)
    with live.context() as session:
        ada_user = session.scalar(select(User).where(User.email == "ada@partner.example"))
        assert ada_user is not None and ada_user.org_id == partner_id
        tenancy.set_org_admin(session, ada_user, session.get(type(partner), partner_id), grant=True)
        session.commit()
    ada.reload()
    ada.get_by_role("link", name="Admin", exact=True).click()
    ada.wait_for_url(live.url + f"/admin/orgs/{partner_id}")
    assert ada.locator("h1").inner_text() == "Partner Co"
    nav = [a.inner_text() for a in ada.locator(".admin-nav a").all()]
    assert "Providers" not in nav and "Users" in nav
    axe(ada, "an organisation admin's organisation page")
    _nav(ada, "Users")
    listed = ada.locator("#users-table").inner_text()
    assert "ada@partner.example" in listed and "grace@gmail.example" not in listed
    answer = ada.goto(live.url + f"/admin/orgs/{other_id}")
    assert answer is not None and answer.status == 404
    answer = ada.goto(live.url + "/admin/providers")
    assert answer is not None and answer.status == 404
