"""Google sign-in: OpenID Connect.

Docs: https://developers.google.com/identity/openid-connect/openid-connect
Google+ and its scopes are gone since 2019; plain `openid email profile` is all we ask.
Revocation: https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke: POST the token to
the discovery document's `revocation_endpoint` (https://oauth2.googleapis.com/revoke); revoking either token of a
grant ends the whole grant.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import Brand, LoginError, Permanent, Profile
from providers.oauth import OIDCProvider


class Google(OIDCProvider):
    kind = "google"
    brand = Brand("Google", background="#ffffff", foreground="#1f1f1f", border="#747775")
    issuer_url = "https://accounts.google.com"
    # Google's ID tokens carry either form of the issuer: both are documented.
    issuer_aliases = ("accounts.google.com",)
    hint_names = ("hd",)
    # Google's revocation endpoint takes the token alone; no client authentication is documented.
    revocation_auth_method = "none"

    def revoke_connection(self, tokens: Mapping[str, Any]) -> bool:
        """Revoke the grant: the refresh token if the hub holds one (it outlives the access token), else the access
        token; Google ends the other with it."""
        url = self.metadata().get("revocation_endpoint")
        if not url:  # Google's discovery names it; a server that does not cannot be asked
            raise Permanent(self.name, "The provider's discovery document names no revocation_endpoint.")
        hint = "refresh_token" if tokens.get("refresh_token") else "access_token"
        self.revoke_each(url, tokens, (hint,))
        return True

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
