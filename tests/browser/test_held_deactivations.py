"""Held deactivations in a real browser: the banner on a console page and the review page pass axe and fit a phone;
the banner's Reject all and the page's Confirm do what they say."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub import orgs
from hub.models import DeprovisioningHold, User
from tests.browser.conftest import ADMIN_SUB, PHONE, Pages, no_horizontal_overflow, sign_in
from tests.live import LiveHub


def _holds(live: LiveHub) -> list[int]:
    """Organisation "Northwind Traders" with three people whose SCIM deactivations the guard held."""
    with live.context() as session:
        org = orgs.add_org(session, "Northwind Traders", ["northwind.example"], "open")
        session.flush()
        people = [User(email=f"person{n}@northwind.example", name=f"Person {n}", org_id=org.id, groups=[])
                  for n in range(3)]
        session.add_all(people)
        session.flush()
        session.add_all(DeprovisioningHold(org_id=org.id, user_id=p.id, actor="scim:lms", reason="scim active=false")
                        for p in people)
        session.commit()
        return [p.id for p in people]


def _status(live: LiveHub, user_id: int) -> str:
    with live.context() as session:
        return str(session.get(User, user_id).status)


def test_the_banner_and_the_review_page(live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    people = _holds(live)
    page = pages.new()
    sign_in(page, live, ADMIN_SUB)
    page.goto(live.url + "/admin/users")
    banner = page.get_by_role("region", name="Held deactivations")
    assert "Northwind Traders: 3 held" in banner.inner_text()
    axe(page, "a console page with the held-deactivations banner")
    banner.get_by_role("link", name="Review them one by one").click()
    page.wait_for_url(live.url + "/admin/deprovisioning")
    assert page.locator("#held-table tbody tr").count() == 3
    axe(page, "the held deactivations page")
    page.set_viewport_size(PHONE)
    width, inner = no_horizontal_overflow(page)
    assert width <= inner, f"the held deactivations page overflows sideways ({width} > {inner})"
    page.get_by_role("button", name="Confirm deactivation of person0@northwind.example").click()
    page.wait_for_load_state()
    assert "person0@northwind.example: deactivation confirmed." in page.locator(".flashes").inner_text()
    assert _status(live, people[0]) == "disabled"
    page.goto(live.url + "/admin/users")
    page.get_by_role("button", name="Reject all held deactivations of Northwind Traders").click()
    page.wait_for_url(live.url + "/admin/users")
    assert page.get_by_role("region", name="Held deactivations").count() == 0
    assert [_status(live, p) for p in people[1:]] == ["active", "active"]
    with live.context() as session:
        assert session.scalar(select(DeprovisioningHold).where(DeprovisioningHold.status == "held")) is None
