"""A real browser signs in through the Google sandbox; the sign-in, account and error pages pass axe."""
from __future__ import annotations

import re
from typing import Any

from hub import provider_store
from providers import registry
from tests.browser.conftest import ADA_SUB, PHONE, Pages, screenshot, sign_in
from tests.live import LiveHub


def test_sign_in_through_the_google_sandbox_shows_the_account(live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    page = pages.new()
    page.goto(live.url + "/login")
    button = page.locator('a.provider-button[data-provider="google"]')
    assert button.inner_text().strip().endswith("Continue with Google")
    sign_in(page, live, ADA_SUB, next_path="/account")
    assert page.url == live.url + "/account"
    assert page.locator("#account-email").inner_text().startswith("ada@partner.example")
    assert page.locator("#identities").inner_text().count("Google") == 1
    axe(page, "the account page")
    screenshot(page, "account")
    page.get_by_role("button", name="Sign out", exact=True).click()
    page.wait_for_url(live.url + "/login")
    page.goto(live.url + "/account")
    assert page.url.startswith(live.url + "/login?next=")


def test_keyboard_alone_reaches_the_first_provider_and_starts_sign_in(live: LiveHub, pages: Pages) -> None:
    live.add_provider("google")
    page = pages.new()
    page.goto(live.url + "/login")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"  # the skip link comes first
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.matches('.provider-button')"):
            break
    focused: dict[str, str] = page.evaluate(
        "() => { const e = document.activeElement; const s = getComputedStyle(e);"
        " return {provider: e.dataset.provider, outline: s.outlineStyle, width: s.outlineWidth}; }")
    assert focused["provider"] == "google"
    assert focused["outline"] != "none" and focused["width"] != "0px"  # visible focus
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(re.escape(live.url) + r"/sandbox/google/o/oauth2/v2/auth\?"))
    assert page.get_by_role("button", name="Sign in").is_visible()


def test_the_error_page_speaks_to_people(live: LiveHub, pages: Pages, axe: Any) -> None:
    page = pages.new()
    answer = page.goto(live.url + "/login/nowhere")
    assert answer is not None and answer.status == 404
    assert page.locator("h1").inner_text() == "Sign-in failed"
    ref = page.locator("main code").inner_text()
    assert re.fullmatch(r"[0-9a-f]{12}", ref)  # the reference people quote to support
    axe(page, "the error page")
    screenshot(page, "error")


def _every_kind(live: LiveHub) -> None:
    """One provider of every registered kind: the sign-in page only lists them, nobody signs in."""
    with live.context() as session:
        for kind in registry.KINDS:
            needs_issuer = registry.provider_class(kind).requires_issuer
            provider_store.add_provider(
                session, live.app.extensions["vault"], name=kind, kind=kind, client_id=f"client-{kind}",
                client_secret="unused", issuer="https://idp.partner.example" if needs_issuer else None,
                options={"label": "Partner SSO"} if needs_issuer else {})
        session.commit()


def test_sign_in_page_with_every_provider_passes_axe_and_fits_a_phone(live: LiveHub, pages: Pages,
                                                                      axe: Any) -> None:
    _every_kind(live)
    page = pages.new()
    page.goto(live.url + "/login")
    buttons = page.locator("a.provider-button")
    assert buttons.count() == len(registry.KINDS)
    axe(page, "the sign-in page with every provider's brand colours")
    screenshot(page, "sign-in")
    page.set_viewport_size(PHONE)
    width, viewport = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= viewport
    for box in (buttons.nth(n).bounding_box() for n in range(buttons.count())):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= viewport
    screenshot(page, "sign-in-phone")
