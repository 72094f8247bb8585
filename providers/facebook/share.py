"""Facebook's sharer link: Facebook allows no server-side posting to a person's timeline."""
from __future__ import annotations

from urllib.parse import urlencode

TEXT_LIMIT = 3000  # Facebook ignores prefilled text (platform policy); the learner types it there
LABEL = "Facebook"


def share_url(text: str, url: str | None) -> str:
    """sharer.php takes only the URL: prefilling the message is against Facebook's platform policy."""
    return "https://www.facebook.com/sharer/sharer.php?" + urlencode({"u": url or ""})
