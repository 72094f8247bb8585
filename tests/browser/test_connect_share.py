"""Issue 13 in a real browser: a learner on the share page connects LinkedIn through the sandbox's consent page,
comes back to the share page with Post enabled, posts, and the post is in the sandbox."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub import jobs, redirect_uris
from hub.models import Consent, Delivery, User
from tests.browser.conftest import ADA_SUB, DESKTOP, PHONE, Pages, no_horizontal_overflow, screenshot, sign_in
from tests.live import LiveHub
from tests.sharing.test_share import LINKEDIN_SUB, plan_and_send


def test_learner_connects_linkedin_from_the_share_page_and_posts(live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    client_id = live.add_provider("linkedin")
    live.sandboxes["linkedin"].register_client(  # what `hub provider add` tells the admin to register
        client_id, "sandbox-secret", [uri.url for uri in redirect_uris.for_provider(live.url, "linkedin", "linkedin")])
    page = pages.new()
    sign_in(page, live, ADA_SUB, next_path="/account")
    with live.context() as session:
        user_id = session.scalar(select(User.id).where(User.email == "ada@partner.example"))
        session.add(Consent(user_id=user_id, destination_kind="linkedin", choice="ask", text_version="v1"))
        session.commit()
    delivery_id = plan_and_send(live, user_id)
    share = f"{live.url}/share/{delivery_id}"

    page.goto(share)
    assert page.locator("#share-connection").get_attribute("data-connected") == "no"
    assert page.locator("#share-post").is_disabled()
    assert "Post is off until your LinkedIn account is connected" in page.locator("#share-post-why").inner_text()
    axe(page, "the share page before connecting")
    screenshot(page, "share-connect")
    page.set_viewport_size(PHONE)
    width, viewport = no_horizontal_overflow(page)
    assert width <= viewport, (width, viewport)
    page.set_viewport_size(DESKTOP)

    page.get_by_role("link", name="Connect LinkedIn").click()
    page.wait_for_url("**/sandbox/linkedin/**")
    assert "w_member_social" in page.content()  # the consent page names the posting scope
    page.check(f'input[type=radio][value="{LINKEDIN_SUB}"]')
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(share)
    assert "LinkedIn connected for sharing." in page.locator(".flashes").inner_text()
    assert page.locator("#share-connection").get_attribute("data-connected") == "yes"
    assert page.locator("#share-post").is_enabled()

    page.locator("#share-text").fill("Security Basics: done.")
    page.get_by_role("button", name="Post").click()
    page.wait_for_load_state()
    assert "Queued for posting to linkedin" in page.locator(".flashes").inner_text()
    jobs.run_worker(live.app, burst=True)
    page.reload()
    assert page.locator("#share-status").get_attribute("data-status") == "sent"
    with live.context() as session:
        assert session.get(Delivery, delivery_id).status == "sent"
    [post] = live.sandboxes["linkedin"].posts
    assert post["commentary"].startswith("Security Basics: done.") and post["author"] == f"urn:li:person:{LINKEDIN_SUB}"
