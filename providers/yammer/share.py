"""Viva Engage (Yammer) share link: the message composer, prefilled, in the learner's own session."""
from __future__ import annotations

from urllib.parse import urlencode

TEXT_LIMIT = 3000
LABEL = "Viva Engage (Yammer)"


def share_url(text: str, url: str | None) -> str:
    """The composer Yammer's share button opens; `status` is the prefilled message (the link goes in it)."""
    status = f"{text} {url}".strip() if url and url not in text else text
    return "https://www.yammer.com/messages/new?" + urlencode({"login": "true", "status": status})
