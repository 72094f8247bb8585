"""A local Google: discovery, authorize, token, userinfo and JWKS on Google's documented paths."""
from __future__ import annotations

from providers.sandbox_kit import SandboxIdP

USERS = [
    {"sub": "110169484474386276334", "email": "ada@partner.example", "email_verified": True,
     "name": "Ada Lovelace", "given_name": "Ada", "family_name": "Lovelace", "hd": "partner.example",
     "picture": "https://lh3.googleusercontent.com/a/ada"},
    {"sub": "110169484474386276335", "email": "grace@gmail.example", "email_verified": True,
     "name": "Grace Hopper", "given_name": "Grace", "family_name": "Hopper"},
    {"sub": "110169484474386276336", "email": "unverified@gmail.example", "email_verified": False,
     "name": "Ursula Unverified"},
    # HUB_ADMIN_EMAILS names this address in the tests: it signs in as the hub's admin.
    {"sub": "110169484474386276337", "email": "admin@hub.example", "email_verified": True,
     "name": "Hub Admin", "given_name": "Hub", "family_name": "Admin"},
]


def create_sandbox() -> SandboxIdP:
    return SandboxIdP(
        "google", title="Google", colour="#1a73e8", users=USERS,
        discovery_path="/.well-known/openid-configuration",
        authorize_path="/o/oauth2/v2/auth",
        token_path="/token",
        userinfo_path="/v1/userinfo",
        jwks_path="/oauth2/v3/certs",
        send_iss=True,  # Google returns RFC 9207 `iss` on the authorization response
    )
