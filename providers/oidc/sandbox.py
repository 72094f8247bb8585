"""A minimal OpenID Provider for the demo; tests use panva's oidc-provider instead."""
from __future__ import annotations

from providers.sandbox_kit import SandboxIdP

USERS = [
    {"sub": "oidc-user-1", "email": "olive@oidc.example", "email_verified": True, "name": "Olive OIDC"},
]


def create_sandbox() -> SandboxIdP:
    return SandboxIdP(
        "oidc", title="Generic OpenID Provider", colour="#3d4a5c", users=USERS,
        discovery_path="/.well-known/openid-configuration", authorize_path="/auth", token_path="/token",
        userinfo_path="/me", jwks_path="/jwks", send_iss=True,
    )
