"""Generic webhook posting: Standard Webhooks signatures a receiver verifies, and resends it deduplicates."""
from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from providers.base import Permanent, Post, Target
from providers.webhook.publish import payload, sign
from tests.providers.posting import WEBHOOK_SECRET, PostingHosts

POST = Post("Ada reached level 5", None, None, None, "hub-d31")


def test_signed_post_is_verified_and_a_resend_is_deduplicated(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["webhook"]
    target = Target(hosts.base("webhook") + sandbox.endpoint_path(WEBHOOK_SECRET), {"secret": WEBHOOK_SECRET})
    publisher = hosts.publisher("webhook")
    first = publisher.publish(target, POST)
    again = publisher.publish(target, POST)  # a crashed send retried: same webhook-id
    assert first == again and first.remote_id == "rcv-hub-d31"
    assert sandbox.deliveries == 2 and list(sandbox.received) == ["hub-d31"]
    body = sandbox.received["hub-d31"]
    assert body["type"] == "post.published" and body["data"]["text"] == "Ada reached level 5"


def test_signature_matches_the_spec_by_hand() -> None:
    key = base64.b64decode(WEBHOOK_SECRET[len("whsec_"):])
    headers = sign(key, "msg_1", 1700000000, b'{"a":1}')
    expected = base64.b64encode(hmac.new(key, b'msg_1.1700000000.{"a":1}', hashlib.sha256).digest()).decode()
    assert headers == {"webhook-id": "msg_1", "webhook-timestamp": "1700000000", "webhook-signature": f"v1,{expected}"}
    assert set(payload(POST)) == {"type", "timestamp", "data"}


def test_wrong_or_malformed_secret_is_permanent(hosts: PostingHosts) -> None:
    sandbox = hosts.sandboxes["webhook"]
    url = hosts.base("webhook") + sandbox.endpoint_path(WEBHOOK_SECRET)
    other = "whsec_" + base64.b64encode(b"another key of 24 bytes!").decode()
    with pytest.raises(Permanent, match="refused the signature"):
        hosts.publisher("webhook").publish(Target(url, {"secret": other}), POST)
    with pytest.raises(Permanent, match="tokens.secret"):
        hosts.publisher("webhook").publish(Target(url, {"secret": "hunter2"}), POST)
    assert sandbox.received == {}
