"""A local Google: discovery, authorize, token, userinfo and JWKS on Google's documented paths.

Revocation (https://developers.google.com/identity/protocols/oauth2/web-server#tokenrevoke): discovery names
`revocation_endpoint`; POST /revoke with `token` answers 200 and ends the whole grant (every token issued with it),
so userinfo answers 401 afterwards; an unknown or already revoked token gets 400 `invalid_token`. `revoked` lists the
tokens named; `revoke_faults` answers the next revocations with canned failures (a 500).
"""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from providers.posting_sandbox import PostingFaults
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


class GoogleSandbox(SandboxIdP):
    """The kit on Google's paths, plus its revocation endpoint."""

    def __init__(self) -> None:
        super().__init__(
            "google", title="Google", colour="#1a73e8", users=USERS,
            discovery_path="/.well-known/openid-configuration",
            authorize_path="/o/oauth2/v2/auth",
            token_path="/token",
            userinfo_path="/v1/userinfo",
            jwks_path="/oauth2/v3/certs",
            send_iss=True,  # Google returns RFC 9207 `iss` on the authorization response
        )
        self.revoked: list[str] = []
        self.revoke_faults = PostingFaults()
        self.blueprint.add_url_rule("/revoke", "revoke", self.revoke, methods=["POST"])

    def discovery_document(self) -> dict[str, Any]:
        return super().discovery_document() | {"revocation_endpoint": self.base() + "/revoke"}

    def revoke(self) -> Any:
        """Google ends the grant the token belongs to: its access token and any other token issued with it."""
        canned = self.revoke_faults.pop()
        if canned:
            return canned
        token = request.values.get("token", "")
        with self._lock:
            grant = self.tokens.get(token)
            self.revoked.append(token)
            if grant is None:
                return jsonify({"error": "invalid_token", "error_description": "Token expired or revoked"}), 400
            for other in [t for t, g in self.tokens.items() if g is grant]:
                del self.tokens[other]
        return Response(status=200)


def create_sandbox() -> GoogleSandbox:
    return GoogleSandbox()
