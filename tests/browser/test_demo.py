"""The demo LMS page in a real browser: complete a course, see the hub's answer; axe, a phone and a desktop."""
from __future__ import annotations

from typing import Any

from hub import db, demo
from hub.sharing import dispatch
from tests.browser.conftest import DESKTOP, PHONE, Pages, no_horizontal_overflow, screenshot
from tests.live import LiveHub


def test_demo_lms_sends_a_completion_and_links_where_it_goes(live: LiveHub, pages: Pages, axe: Any) -> None:
    demo.seed(live.app, {"*": live.url})
    page = pages.new(viewport=PHONE)
    page.goto(live.url + "/demo/lms")
    axe(page, "the demo LMS page")
    axe(page, "the demo LMS form with errors", prepare=lambda twin: (
        twin.get_by_label("Course title").fill(""), twin.get_by_role("button", name="Send the event").click(),
        twin.wait_for_load_state()))
    page.get_by_label("Learner").select_option("grace@partner.example")
    page.get_by_label("Course title").fill("Security Basics")
    page.get_by_label("What happened").select_option("course.completed")
    page.get_by_role("button", name="Send the event").click()
    page.wait_for_url(live.url + "/demo/lms?sent=*")
    assert "The hub answered 202" in page.locator(".flashes").inner_text()
    assert page.locator("#lms-status").get_attribute("data-status") == "202"
    assert page.locator("#lms-planning").is_visible()  # the dispatcher plans a moment after the 2xx
    with live.app.app_context():
        dispatch.plan_new(db.session())  # what the demo worker's dispatcher does
    page.get_by_role("link", name="reload this page").click()
    assert page.locator("#lms-deliveries li").inner_text().startswith("slack:#wins")
    assert page.get_by_label("Course title").input_value() == "Security Basics"  # ready to send another
    axe(page, "the demo LMS page with the hub's answer")
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        width, inner = no_horizontal_overflow(page)
        assert width <= inner, f"/demo/lms overflows sideways at {viewport['width']}px ({width} > {inner})"
        screenshot(page, "demo-lms-phone" if viewport is PHONE else "demo-lms", full_page=viewport is DESKTOP)
    page.get_by_role("link", name="Slack sandbox").click()
    page.wait_for_url(live.url + "/sandbox/slack/posts")
    assert page.get_by_role("heading", name="#wins").first.is_visible()
