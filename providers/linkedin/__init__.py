"""LinkedIn sign-in: "Sign In with LinkedIn using OpenID Connect".

Docs: https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2
Authorization code flow: https://learn.microsoft.com/en-us/linkedin/shared/authentication/authorization-code-flow
Revocation: POST https://www.linkedin.com/oauth/v2/revoke (token, client_id, client_secret in the body); the
token introspection page (.../shared/authentication/token-introspection) reports such tokens as `revoked`.
Sign-in asks only `openid profile email`; posting (`w_member_social`, product "Share on
LinkedIn") is asked for separately when a user connects the account for sharing.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from providers.base import Brand
from providers.oauth import OIDCProvider

OLD_ISSUER_SUFFIX = "/oauth"


class LinkedIn(OIDCProvider):
    kind = "linkedin"
    # LinkedIn blue with white text, as in LinkedIn's own sign-in button guidelines.
    brand = Brand("LinkedIn", background="#0a66c2", foreground="#ffffff")
    issuer_url = "https://www.linkedin.com/oauth"
    # In April 2024 the issuer moved from https://www.linkedin.com to .../oauth, and ID
    # tokens with the old value still appear (strict clients broke: keycloak#28686).
    issuer_aliases = ("https://www.linkedin.com",)
    login_scopes = ("openid", "profile", "email")
    sharing_scopes = ("w_member_social",)
    scope_words = MappingProxyType({"w_member_social": "post on your behalf", "openid": "know which account it is"})
    # The token endpoint wants the credentials in the body; discovery does not list
    # token_endpoint_auth_methods_supported, which by the spec would mean client_secret_basic.
    token_auth_method = "client_secret_post"
    # PKCE is for native apps only, enabled per app on request: a web app sending a
    # code_challenge is refused at the authorization endpoint.
    pkce = False
    # As at the token endpoint, the credentials go in the body.
    revocation_auth_method = "client_secret_post"

    def revoke_connection(self, tokens: Mapping[str, Any]) -> bool:
        """Revoke the member's token at {issuer}/v2/revoke (the issuer's host, beside /v2/accessToken)."""
        self.revoke_each(self.issuer() + "/v2/revoke", tokens, ("access_token", "refresh_token"))
        return True

    @classmethod
    def sandbox_overrides(cls, base: str) -> dict[str, str]:
        # The issuer lives under /oauth of the host, as in production; the REST API at its root.
        return {"issuer": base + OLD_ISSUER_SUFFIX, "api_base": base}

    def issuer_aliases_for_base(self) -> tuple[str, ...]:
        """The old issuer is the new one without `/oauth`: the same rule for production and overrides."""
        issuer = self.issuer()
        if issuer.endswith(OLD_ISSUER_SUFFIX):
            return (issuer[: -len(OLD_ISSUER_SUFFIX)],)
        return ()
