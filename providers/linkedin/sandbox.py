"""A local LinkedIn: OIDC discovery under /oauth, authorize, accessToken, userinfo and JWKS.

Faithful to what strict clients trip over: discovery names no token endpoint auth
method yet only client_secret_post works, a code_challenge is refused (PKCE is not
enabled for web apps), and some ID tokens carry the pre-2024 issuer without `/oauth`.
"""
from __future__ import annotations

from typing import Any

from flask import request

from providers.sandbox_kit import Grant, SandboxIdP

# LinkedIn member ids are opaque strings; the ID token carries the lite profile and email.
USERS = [
    {"sub": "782bbtaQ", "name": "Linh Nguyen", "given_name": "Linh", "family_name": "Nguyen",
     "picture": "https://media.licdn.com/dms/image/linh", "email": "linh@partner.example",
     "email_verified": True, "locale": "en_US"},
    {"sub": "Qx9Lm2Pe", "name": "Omar Haddad", "given_name": "Omar", "family_name": "Haddad",
     "picture": "https://media.licdn.com/dms/image/omar", "email": "omar@consult.example",
     "email_verified": True, "locale": "en_US"},
]
# Members whose ID tokens carry the old issuer (https://www.linkedin.com, i.e. without /oauth).
OLD_ISSUER_SUBS = frozenset({"Qx9Lm2Pe"})


class LinkedInSandbox(SandboxIdP):
    """The kit, with LinkedIn's discovery gaps and both issuer values."""

    def __init__(self) -> None:
        super().__init__(
            "linkedin", title="LinkedIn", colour="#0a66c2", users=USERS,
            issuer_path="/oauth",
            discovery_path="/oauth/.well-known/openid-configuration",
            authorize_path="/oauth/v2/authorization",
            token_path="/oauth/v2/accessToken",
            jwks_path="/oauth/openid/jwks",
            userinfo_path="/v2/userinfo",  # api.linkedin.com/v2/userinfo in production
            pkce="rejected",
            auth_methods=("client_secret_post",),
            token_lifetime=5184000,  # 60 days
        )
        self.client_auth_seen: list[str] = []

    def discovery_document(self) -> dict[str, Any]:
        document = super().discovery_document()
        # LinkedIn's discovery says nothing about client authentication (nor PKCE).
        document.pop("token_endpoint_auth_methods_supported", None)
        document["subject_types_supported"] = ["pairwise"]
        return document

    def authenticate_client(self) -> str | None:
        self.client_auth_seen.append("client_secret_basic" if request.authorization else
                                     "client_secret_post" if "client_secret" in request.form else "none")
        return super().authenticate_client()

    def id_claims(self, grant: Grant) -> dict[str, Any]:
        claims = super().id_claims(grant)
        if grant.user["sub"] in OLD_ISSUER_SUBS:
            claims["iss"] = self.base()  # the issuer without /oauth, as before April 2024
        return claims


def create_sandbox() -> LinkedInSandbox:
    return LinkedInSandbox()
