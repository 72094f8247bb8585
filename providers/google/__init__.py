"""Google sign-in: OpenID Connect.

Docs: https://developers.google.com/identity/openid-connect/openid-connect
Google+ and its scopes are gone since 2019; plain `openid email profile` is all we ask.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import Brand, LoginError, Profile
from providers.oauth import OIDCProvider


class Google(OIDCProvider):
    kind = "google"
    brand = Brand("Google", background="#ffffff", foreground="#1f1f1f", border="#747775")
    issuer_url = "https://accounts.google.com"
    # Google's ID tokens carry either form of the issuer: both are documented.
    issuer_aliases = ("accounts.google.com",)
    hint_names = ("hd",)

    def authorize_params(self) -> dict[str, str]:
        params = super().authorize_params()
        allowed = self.settings.options.get("hd_allow", [])
        if len(allowed) == 1:
            params["hd"] = allowed[0]  # a hint for Google's account chooser only; the token decides
        return params

    def map_profile(self, claims: Mapping[str, Any]) -> Profile:
        # `hd` must come from the validated ID token, never from the request.
        allowed = self.settings.options.get("hd_allow", [])
        if allowed and claims.get("hd") not in allowed:
            raise LoginError(self.name, "This Google account is not in an allowed Workspace domain.",
                             code="hd_not_allowed")
        return super().map_profile(claims)
