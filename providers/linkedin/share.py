"""LinkedIn's own share link (share-offsite): the learner posts from LinkedIn, no connection needed."""
from __future__ import annotations

from urllib.parse import urlencode

TEXT_LIMIT = 3000  # a member post's commentary
LABEL = "LinkedIn"


def share_url(text: str, url: str | None) -> str:
    """share-offsite takes only the page URL; LinkedIn reads the title and image from the page itself."""
    return "https://www.linkedin.com/sharing/share-offsite/?" + urlencode({"url": url or ""})
