"""A real browser deletes its account: the account page's link, the confirmation (a wrong address first), the goodbye
page, and no way back into the old account; the confirmation page passes axe on a desktop and a phone."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub.models import Erasure, User
from tests.browser.conftest import ADA_SUB, PHONE, Pages, no_horizontal_overflow, screenshot, sign_in
from tests.live import LiveHub


def test_delete_my_account_walks_the_confirmation(live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    page = pages.new()
    sign_in(page, live, ADA_SUB, next_path="/account")
    page.get_by_role("link", name="Delete my account…").click()
    page.wait_for_url(live.url + "/account/delete")
    assert "audit log keeps" in page.locator("main").inner_text()
    axe(page, "the delete-account page")
    screenshot(page, "account-delete")

    field = page.get_by_label("Type your email address, ada@partner.example, to confirm")
    field.fill("not-me@partner.example")
    page.get_by_role("button", name="Delete my account").click()
    error = page.get_by_role("alert")
    assert "not your account's email address" in error.inner_text()
    assert field.input_value() == "not-me@partner.example"  # kept beside the error
    with live.context() as session:
        assert session.scalar(select(Erasure)) is None

    field.fill("ada@partner.example")
    page.get_by_role("button", name="Delete my account").click()
    page.wait_for_url(live.url + "/account/deleted")
    assert page.locator("h1").inner_text() == "Your account was deleted"
    axe(page, "the goodbye page")
    with live.context() as session:
        assert session.scalars(select(User).where(User.email == "ada@partner.example")).first() is None
        assert session.scalar(select(Erasure)) is not None

    page.goto(live.url + "/account")
    assert page.url.startswith(live.url + "/login?next=")  # the session went with the account


def test_the_confirmation_fits_a_phone_and_keep_my_account_goes_back(live: LiveHub, pages: Pages) -> None:
    live.add_provider("google")
    page = pages.new(viewport=PHONE)
    sign_in(page, live, ADA_SUB, next_path="/account/delete")
    assert page.url == live.url + "/account/delete"
    scroll_width, viewport = no_horizontal_overflow(page)
    assert scroll_width <= viewport
    page.get_by_role("link", name="Keep my account").click()
    page.wait_for_url(live.url + "/account")
    with live.context() as session:
        assert session.scalar(select(Erasure)) is None
