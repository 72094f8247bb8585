"""The hub's error tree; providers raise their own from providers.base."""
from __future__ import annotations


class HubError(Exception):
    """Base of every error the hub raises on purpose."""


class ConfigError(HubError):
    """A setting is missing or wrong; the message names the HUB_* variable."""


class LoginRejected(HubError):
    """A sign-in stops here; `reason` is shown to the user and audited (under `user_id`, the existing account the
    sign-in reached for, when there is one worth its organisation's admins knowing about)."""

    def __init__(self, reason: str, code: str = "login_rejected", user_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.user_id = user_id
