"""Posting to Teams: an Adaptive Card inside the `attachments` envelope, POSTed to a Workflows webhook URL.

Docs: https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/add-incoming-webhook
      https://adaptivecards.io/explorer/
Office 365 connector webhooks are retired; the Workflows "When a Teams webhook request is received"
trigger answers 202 Accepted with no message id, so the marker (the card's id) is the remote id and a
crashed send cannot be looked up. The URL carries its own signature (`sig=`): treat it as a secret.
"""
from __future__ import annotations

from typing import Any

from providers.base import AuthExpired, Permanent, Post, Published, Target
from providers.publishing import HttpPublisher, error_text

CARD_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"  # the highest version Teams renders on every client


class TeamsPublisher(HttpPublisher):
    kind = "teams"
    rate_limit = (4, 1)  # Workflows webhooks: a few requests per second per URL
    address = "url"

    def publish(self, target: Target, post: Post) -> Published:
        """POST the card; 401/403/404 mean the URL is wrong or the flow is off, which no retry fixes."""
        try:
            answer = self.send("POST", target.address, json=envelope(post))
        except AuthExpired as exc:  # a bad `sig` is a wrong URL, not a token a refresh could fix
            raise Permanent(self.name, "the Teams workflow refused the URL's signature (401)") from exc
        if answer.status_code not in (200, 202):
            raise Permanent(self.name, f"the Teams workflow answered {answer.status_code}: {error_text(answer)}")
        return Published(remote_id=post.marker, url=None)

    def find(self, target: Target, marker: str) -> Published | None:
        """Workflows keep no history the hub can read."""
        return None


def card(post: Post) -> dict[str, Any]:
    """Title, text and image, with the link as a button; the marker is the card's id."""
    body: list[dict[str, Any]] = []
    if post.title:
        body.append({"type": "TextBlock", "text": post.title, "weight": "Bolder", "size": "Medium", "wrap": True})
    body.append({"type": "TextBlock", "text": post.text, "wrap": True})
    if post.image_url:
        body.append({"type": "Image", "url": post.image_url, "altText": post.title or "image", "size": "Medium"})
    content: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                               "type": "AdaptiveCard", "version": CARD_VERSION, "id": post.marker, "body": body}
    if post.link:
        content["actions"] = [{"type": "Action.OpenUrl", "title": "Open", "url": post.link}]
    return content


def envelope(post: Post) -> dict[str, Any]:
    """The message shape the Workflows trigger posts to a channel."""
    return {"type": "message", "attachments": [{"contentType": CARD_TYPE, "contentUrl": None, "content": card(post)}]}
