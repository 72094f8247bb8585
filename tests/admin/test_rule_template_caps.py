"""The admin rules page refuses a template past the render caps, beside the template field, for add and preview."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from hub.models import Rule
from tests.live import Browser, LiveHub, csrf_token

NESTED_LOOPS = "{% for i in range(4000) %}{% for j in range(4000) %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(("template", "reason"), [
    (NESTED_LOOPS, "more than 100,000 steps"),
    ("{{ 'x' * 4000 }}{{ 'x' * 4000 }}", "renders more than 5,000 characters"),
])
@pytest.mark.parametrize("action", ["add", "preview"])
def test_a_template_past_the_caps_is_refused_beside_its_field(hub: LiveHub, admin: Browser, template: str,
                                                              reason: str, action: str) -> None:
    token = csrf_token(admin.get("/admin/rules").text)
    answer = admin.post("/admin/rules", data={"csrf_token": token, "org": "*", "event_type": "course.completed",
                                              "destination": "slack:#wins", "template": template, "action": action})
    assert answer.status_code == 400, answer.text
    error = re.search(r'id="rule-template-error">([^<]*)<', answer.text)
    assert error and "refused" in error.group(1) and reason in error.group(1), answer.text
    with hub.context() as session:
        assert session.scalar(select(Rule)) is None
