"""Where a user may be sent after signing in: a same-origin path or an allowed LMS origin, nothing else."""
from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

DEFAULT = "/account"


def safe_next(value: str | None, lms_origins: Iterable[str]) -> str:
    """Return value if it is a safe redirect target, else the default."""
    if not value or len(value) > 2000 or any(ord(ch) < 0x20 or ch == "\\" for ch in value):
        return DEFAULT
    decoded = unquote(value)
    if value.startswith("/"):
        # "//evil" and "/\\evil" are other hosts to a browser; so are their encoded forms.
        if value.startswith("//") or decoded.startswith(("//", "/\\")) or "\\" in decoded:
            return DEFAULT
        return value
    parts = urlsplit(value)
    if parts.scheme in {"http", "https"} and parts.netloc and not parts.username and not parts.password:
        origin = f"{parts.scheme}://{parts.netloc}".lower()
        if origin in set(lms_origins):
            return value
    return DEFAULT
