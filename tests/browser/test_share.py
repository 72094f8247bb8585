"""A learner sets "ask each time" on the account page, then edits the post on the share page and posts it."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from hub import jobs
from hub.models import Consent, Delivery, User
from tests.browser.conftest import ADA_SUB, Pages, screenshot, sign_in
from tests.live import LiveHub
from tests.sharing.test_share import connect_linkedin, plan_and_send


def test_share_page_preview_follows_the_edit_and_posts_it(live: LiveHub, pages: Pages, axe: Any) -> None:
    live.add_provider("google")
    live.add_provider("linkedin")
    page = pages.new()
    sign_in(page, live, ADA_SUB, next_path="/account")
    page.check('input[name="choice-linkedin"][value="ask"]')
    page.get_by_role("button", name="Save sharing preferences").click()
    page.wait_for_load_state()
    assert "Sharing preferences saved." in page.locator(".flashes").inner_text()
    with live.context() as session:
        user_id = session.scalar(select(User.id).where(User.email == "ada@partner.example"))
        assert session.scalar(select(Consent.choice).where(Consent.user_id == user_id,
                                                           Consent.destination_kind == "linkedin")) == "ask"
    connect_linkedin(live, user_id)
    delivery_id = plan_and_send(live, user_id)

    page.goto(f"{live.url}/share/{delivery_id}")
    assert page.locator("#preview-text").inner_text() == "I just completed Security Basics!"
    box = page.locator("#share-text")
    box.fill("Security Basics: done, and it was worth it.")
    assert page.locator("#preview-text").inner_text() == "Security Basics: done, and it was worth it."
    assert page.locator("#share-count").inner_text() == "43 / 3000"
    assert page.locator('#share-intents a[data-kind="x"]').get_attribute("href").startswith(
        "https://x.com/intent/post?text=I+just+completed")
    axe(page, "the share page")
    screenshot(page, "share")
    page.get_by_role("button", name="Post").click()
    page.wait_for_load_state()
    assert "Queued for posting to linkedin" in page.locator(".flashes").inner_text()
    jobs.run_worker(live.app, burst=True)
    page.reload()
    assert page.locator("#share-status").get_attribute("data-status") == "sent"
    with live.context() as session:
        assert session.get(Delivery, delivery_id).text == "Security Basics: done, and it was worth it."
    [post] = live.sandboxes["linkedin"].posts
    assert post["commentary"].startswith("Security Basics: done, and it was worth it.")
