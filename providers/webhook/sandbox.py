"""A local Standard Webhooks receiver: checks signature and timestamp, deduplicates on webhook-id."""
from __future__ import annotations

import hmac
import json
import secrets
import time
from typing import Any

from flask import Blueprint, jsonify, request

from providers.posting_sandbox import PostingFaults, posts_page
from providers.webhook.publish import secret_key, sign

TOLERANCE = 300  # seconds, the spec's suggested window


class WebhookSandbox:
    # The page people read (the demo LMS links it): path under /sandbox/<kind>, network, what it shows.
    posts_view = ("/posts", "Webhook receiver", "Signed events received")
    def __init__(self) -> None:
        self.endpoints: dict[str, bytes] = {}  # endpoint id -> key
        self.received: dict[str, dict[str, Any]] = {}  # webhook-id -> body, first delivery only
        self.deliveries = 0
        self.posting_faults = PostingFaults()
        self.blueprint = Blueprint("sandbox_webhook", __name__)
        self.blueprint.add_url_rule("/hooks/<endpoint>", "receive", self.receive, methods=["POST"])
        self.blueprint.add_url_rule("/posts", "posts", self.posts_page)

    def endpoint_path(self, secret: str) -> str:
        endpoint = secrets.token_hex(8)
        self.endpoints[endpoint] = secret_key(secret)
        return f"/hooks/{endpoint}"

    def texts(self) -> list[str]:
        return [body["data"]["text"] for body in self.received.values()]

    def posts_page(self) -> str:
        """What the receiver accepted, oldest first, once per webhook-id (the demo links here)."""
        posts = [(str((body.get("data") or {}).get("text", "")), f"{body.get('type', '')} · webhook-id {msg_id}")
                 for msg_id, body in list(self.received.items())]
        return posts_page("Webhook sandbox: received events", "#444444", [("Received", posts)])

    def receive(self, endpoint: str) -> Any:
        self.deliveries += 1
        canned = self.posting_faults.pop()
        if canned:
            return canned
        key = self.endpoints.get(endpoint)
        if key is None:
            return jsonify({"error": "unknown endpoint"}), 404
        msg_id = request.headers.get("webhook-id", "")
        stamp = request.headers.get("webhook-timestamp", "")
        if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE:
            return jsonify({"error": "missing or stale webhook-id / webhook-timestamp"}), 400
        expected = sign(key, msg_id, int(stamp), request.get_data())["webhook-signature"]
        offered = request.headers.get("webhook-signature", "").split()
        if not any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return jsonify({"error": "bad signature"}), 401
        try:
            body = json.loads(request.get_data())
        except ValueError:
            return jsonify({"error": "body is not JSON"}), 400
        self.received.setdefault(msg_id, body)  # a resend with the same id changes nothing
        return jsonify({"id": f"rcv-{msg_id}"}), 200


def create_sandbox() -> WebhookSandbox:
    return WebhookSandbox()
