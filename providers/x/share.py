"""X's web intent: a prefilled post the learner sends from their own X session."""
from __future__ import annotations

from urllib.parse import urlencode

TEXT_LIMIT = 280
LABEL = "X"


def share_url(text: str, url: str | None) -> str:
    params = {"text": text}
    if url:
        params["url"] = url
    return "https://x.com/intent/post?" + urlencode(params)
