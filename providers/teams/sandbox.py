"""A local Workflows webhook: stores Adaptive Card posts and answers 202 Accepted like Power Automate.

Workflow URLs look like .../workflows/<id>/triggers/manual/paths/invoke?api-version=...&sig=...;
a missing or wrong `sig` is a 401, an unknown flow a 404, a body without an adaptive card
attachment a 400 (the flow's "Post card in a chat or channel" step fails on it).
"""
from __future__ import annotations

import secrets
from typing import Any

from flask import Blueprint, jsonify, request

from providers.posting_sandbox import PostingFaults, posts_page

CARD_TYPE = "application/vnd.microsoft.card.adaptive"


class TeamsSandbox:
    # The page people read (the demo LMS links it): path under /sandbox/<kind>, network, what it shows.
    posts_view = ("/posts", "Microsoft Teams", "Cards posted by Workflows webhooks")
    def __init__(self) -> None:
        self.flows: dict[str, str] = {}  # workflow id -> sig
        self.cards: list[dict[str, Any]] = []
        self.posting_faults = PostingFaults()
        self.blueprint = Blueprint("sandbox_teams", __name__)
        self.blueprint.add_url_rule("/workflows/<flow>/triggers/manual/paths/invoke", "invoke", self.invoke,
                                    methods=["POST"])
        self.blueprint.add_url_rule("/posts", "posts", self.posts_page)

    def workflow_path(self) -> str:
        """A new workflow's URL path and query, to append to the sandbox base."""
        flow, sig = secrets.token_hex(16), secrets.token_urlsafe(32)
        self.flows[flow] = sig
        return f"/workflows/{flow}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers&sv=1.0&sig={sig}"

    def texts(self) -> list[str]:
        return [" ".join(b.get("text", "") for b in c["body"] if b.get("type") == "TextBlock") for c in self.cards]

    def posts_page(self) -> str:
        """The cards the workflows posted, oldest first (the demo links here)."""
        return posts_page("Teams sandbox: workflow posts", "#5b5fc7",
                          [("Channel (Workflows webhook)", [(text, "Adaptive Card") for text in self.texts()])])

    def invoke(self, flow: str) -> Any:
        canned = self.posting_faults.pop()
        if canned:
            return canned
        sig = self.flows.get(flow)
        if sig is None:
            return jsonify({"error": {"code": "WorkflowNotFound", "message": f"The workflow '{flow}' could not be "
                                                                             "found."}}), 404
        if not secrets.compare_digest(request.args.get("sig", ""), sig):
            message = "The request must be authenticated only by Shared Access scheme."
            return jsonify({"error": {"code": "DirectApiAuthorizationRequired", "message": message}}), 401
        body = request.get_json(silent=True)
        attachments = body.get("attachments") if isinstance(body, dict) else None
        cards = [a.get("content") for a in attachments or []
                 if isinstance(a, dict) and a.get("contentType") == CARD_TYPE]
        card = cards[0] if cards else None
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard" or not isinstance(card.get("body"), list):
            return jsonify({"error": {"code": "InvalidTemplate",
                                      "message": "The message has no Adaptive Card attachment."}}), 400
        self.cards.append(card)
        return "", 202


def create_sandbox() -> TeamsSandbox:
    return TeamsSandbox()
