"""Posting to any URL as a Standard Webhooks sender: `webhook-id`, `webhook-timestamp`, `webhook-signature`.

Spec: https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
The signature is `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}` with the base64 key after
`whsec_`. The webhook-id is the post's marker, so a receiver that deduplicates on it (as the spec asks)
never shows a resent post twice; that is also why find() has nothing to ask.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

from providers.base import AuthExpired, Permanent, Post, Published, Target
from providers.publishing import HttpPublisher

EVENT_TYPE = "post.published"
SECRET_PREFIX = "whsec_"


class WebhookPublisher(HttpPublisher):
    kind = "webhook"
    rate_limit = (10, 1)
    address = "url"

    def publish(self, target: Target, post: Post) -> Published:
        """POST the signed JSON body; a 2xx is delivered, and an `id` in a JSON answer is kept."""
        key = secret_key(target.tokens.get("secret"))
        body = json.dumps(payload(post), separators=(",", ":"), ensure_ascii=False).encode()
        headers = sign(key, post.marker, int(time.time()), body) | {"Content-Type": "application/json"}
        try:
            answer = self.send("POST", target.address, data=body, headers=headers)
        except AuthExpired as exc:  # the receiver refused the signature: a wrong secret, not a token to refresh
            raise Permanent(self.name, "the webhook receiver refused the signature (401)") from exc
        remote_id = post.marker
        try:
            answered = answer.json()
            if isinstance(answered, dict) and answered.get("id"):
                remote_id = str(answered["id"])
        except ValueError:
            pass
        return Published(remote_id=remote_id, url=None)

    def find(self, target: Target, marker: str) -> Published | None:
        """A generic receiver has no lookup; it deduplicates a resend on webhook-id instead."""
        return None


def payload(post: Post) -> dict[str, Any]:
    """The Standard Webhooks envelope: type, timestamp, data."""
    data = {"text": post.text, "link": post.link, "title": post.title, "image_url": post.image_url,
            "marker": post.marker}
    return {"type": EVENT_TYPE, "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "data": data}


def secret_key(secret: Any) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise Permanent("webhook", "the webhook destination needs a secret starting with whsec_ (tokens.secret)")
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise Permanent("webhook", "the webhook secret after whsec_ is not base64 (tokens.secret)") from exc


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one message."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}"}
