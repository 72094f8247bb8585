"""Slack posting through slack_sdk against the Slack sandbox over HTTP: Block Kit, metadata, hooks, errors."""
from __future__ import annotations

import pytest

from providers.base import AuthExpired, Permanent, Post, RateLimited, Target
from providers.slack.sandbox import ChannelLimit
from tests.providers.posting import PostingHosts

POST = Post("Ada <finished> Security & Basics", "https://lms.example.edu/course/7", "Security Basics",
            "https://lms.example.edu/img/7.png", "hub-d7")


def test_chat_post_message_carries_blocks_fallback_and_hidden_marker(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["slack"]
    token = sandbox.install_bot()
    published = hosts.publisher("slack").publish(Target("#wins", {"access_token": token}), POST)
    [message] = sandbox.channel_posts("wins")
    assert published.remote_id == f"C0WINS00001:{message['ts']}"
    assert published.url == f"https://partnerco.slack.com/archives/C0WINS00001/p{message['ts'].replace('.', '')}"
    assert message["text"] == "Ada <finished> Security & Basics https://lms.example.edu/course/7"
    [section] = message["blocks"]
    assert section["type"] == "section" and section["block_id"] == "hub-d7"
    assert section["text"] == {"type": "mrkdwn", "text": "Ada &lt;finished&gt; Security &amp; Basics\n"
                                                         "<https://lms.example.edu/course/7|Security Basics>"}
    assert section["accessory"] == {"type": "image", "image_url": "https://lms.example.edu/img/7.png",
                                    "alt_text": "Security Basics"}
    assert message["metadata"] == {"event_type": "hub_post", "event_payload": {"marker": "hub-d7"}}


def test_find_resolves_the_channel_name_and_scans_history(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["slack"]
    target = Target("#wins", {"access_token": sandbox.install_bot()})
    publisher = hosts.publisher("slack")
    first = publisher.publish(target, POST)
    for n in range(3):
        publisher.publish(target, Post(f"other {n}", None, None, None, f"hub-x{n}"))
    assert publisher.find(target, "hub-d7") == first
    assert publisher.find(Target("C0WINS00001", target.tokens), "hub-d7") == first
    assert publisher.find(target, "hub-nothing") is None
    assert publisher.find(Target("#no-such-channel", target.tokens), "hub-d7") is None


@pytest.mark.parametrize(("channel", "code"), [("#nope", "channel_not_found"), ("#random", "not_in_channel")])
def test_channel_errors_are_permanent_with_slacks_code(hosts: PostingHosts, channel: str, code: str) -> None:
    token = hosts.sandboxes["slack"].install_bot()
    with pytest.raises(Permanent, match=code):
        hosts.publisher("slack").publish(Target(channel, {"access_token": token}), POST)


def test_revoked_bot_token_is_auth_expired(hosts: PostingHosts) -> None:
    with pytest.raises(AuthExpired, match="invalid_auth"):
        hosts.publisher("slack").publish(Target("#wins", {"access_token": "xoxb-revoked"}), POST)
    with pytest.raises(AuthExpired, match="no bot token"):
        hosts.publisher("slack").publish(Target("#wins", {}), POST)


def test_incoming_webhook_posts_to_its_channel(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["slack"]
    url = hosts.base("slack") + sandbox.hook_path("#general")
    published = hosts.publisher("slack").publish(Target(url, {}), POST)
    assert published.remote_id == "hub-d7" and published.url is None
    [message] = sandbox.channel_posts("general")
    assert message["blocks"][0]["block_id"] == "hub-d7" and "metadata" not in message
    assert hosts.publisher("slack").find(Target(url, {}), "hub-d7") is None  # hooks have no history


def test_incoming_webhook_errors(hosts: PostingHosts) -> None:
    publisher = hosts.publisher("slack")
    with pytest.raises(Permanent, match="404: no_service"):
        publisher.publish(Target(hosts.base("slack") + "/services/T0PARTNER1/B0GONE/nope", {}), POST)
    with pytest.raises(Permanent, match="must be on hooks.slack.com"):
        publisher.publish(Target("https://evil.example/services/T/B/x", {}), POST)


def test_channel_limit_answers_429_with_retry_after_per_channel(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["slack"]
    sandbox.channel_limit = ChannelLimit(per_second=1.0)  # opt-in: Slack's 1 message per second per channel
    target = Target("#wins", {"access_token": sandbox.install_bot()})
    publisher = hosts.publisher("slack")
    publisher.publish(target, POST)
    with pytest.raises(RateLimited) as refused:
        publisher.publish(target, POST)
    assert refused.value.retry_after == 1  # whole seconds, as Slack's Retry-After header
    publisher.publish(Target("#general", target.tokens), POST)  # another channel has its own allowance
    assert len(sandbox.channel_posts("wins")) == 1 and len(sandbox.channel_posts("general")) == 1
    assert sandbox.channel_limit.refused == {"C0WINS00001": 1}


def test_channel_limit_refills_at_its_rate() -> None:
    limit = ChannelLimit(per_second=1.0, burst=2.0)
    assert [limit.admit("C1", now=0.0), limit.admit("C1", now=0.0)] == [0.0, 0.0]  # a burst of two
    assert limit.admit("C1", now=0.5) == pytest.approx(0.5)
    assert limit.admit("C1", now=1.0) == 0.0
    assert limit.admitted["C1"] == [0.0, 0.0, 1.0] and limit.refused["C1"] == 1
