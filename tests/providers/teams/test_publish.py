"""Teams posting: an Adaptive Card in the attachments envelope to a Workflows URL, 202 from the sandbox."""
from __future__ import annotations

import pytest

from providers.base import Permanent, Post, Target
from tests.providers.posting import PostingHosts

POST = Post("Megan completed Security Basics", "https://lms.example.edu/course/7", "Security Basics",
            "https://lms.example.edu/img/7.png", "hub-d21")


def test_card_carries_title_text_image_link_and_marker(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["teams"]
    published = hosts.publisher("teams").publish(Target(hosts.base("teams") + sandbox.workflow_path(), {}), POST)
    assert published.remote_id == "hub-d21" and published.url is None
    [card] = sandbox.cards
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4" and card["id"] == "hub-d21"
    assert [b["type"] for b in card["body"]] == ["TextBlock", "TextBlock", "Image"]
    assert card["body"][0]["text"] == "Security Basics" and card["body"][1]["text"] == POST.text
    assert card["body"][2]["url"] == POST.image_url
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open", "url": POST.link}]


def test_wrong_signature_or_unknown_flow_is_permanent(hosts: PostingHosts) -> None:
    sandbox, publisher = hosts.sandboxes["teams"], hosts.publisher("teams")
    path = sandbox.workflow_path()
    with pytest.raises(Permanent, match="signature"):
        publisher.publish(Target(hosts.base("teams") + path.replace("sig=", "sig=x"), {}), POST)
    with pytest.raises(Permanent, match="404"):
        publisher.publish(Target(hosts.base("teams") + "/workflows/gone/triggers/manual/paths/invoke?sig=a", {}), POST)
    assert sandbox.cards == []


def test_plain_http_off_loopback_is_refused(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="must be https"):
        hosts.publisher("teams").publish(Target("http://prod-12.westus.logic.azure.com/workflows/x", {}), POST)
