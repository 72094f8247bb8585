"""A local Facebook: the login dialog, the code exchange and Graph `/me`, on the pinned version's paths.

Only the pinned Graph version is served, so a call to any other version fails here as
it would against a retired version. Errors carry Graph's body:
{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from flask import Response, jsonify, request

from providers.facebook import GRAPH_VERSION
from providers.sandbox_kit import Grant, SandboxIdP

USERS: list[dict[str, Any]] = [
    {"sub": "10229876543210001", "name": "Fatima Facebook", "email": "fatima@mail.example",
     "picture": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210001"},
    # A member who signed up with a phone number (or declined the email permission): no email.
    {"sub": "10229876543210002", "name": "Pedro Phone", "email": None,
     "picture": "https://platform-lookaside.fbsbx.com/platform/profilepic/?asid=10229876543210002"},
]

# The kit's RFC 6749 errors, in the words and codes the Graph API uses.
GRAPH_ERRORS = {
    "invalid_client": ("Error validating client secret.", "OAuthException", 1, None),
    "invalid_grant": ("Invalid verification code format.", "OAuthException", 100, None),
    "used_code": ("This authorization code has been used.", "OAuthException", 100, 36009),
    "redirect_mismatch": ("Error validating verification code. Please make sure your redirect_uri is identical "
                          "to the one you used in the OAuth dialog request", "OAuthException", 100, 36008),
    "invalid_token": ("Invalid OAuth access token - Cannot parse access token", "OAuthException", 190, None),
    "invalid_proof": ("Invalid appsecret_proof provided in the API argument", "GraphMethodException", 100, None),
}


def _graph_error(error: str, description: str, status: int) -> tuple[Response, int]:
    """Graph API error body; always HTTP 400 for OAuth failures, as Facebook answers them."""
    if error == "invalid_grant" and "already used" in description:
        error = "used_code"
    elif error == "invalid_grant" and "redirect_uri" in description:
        error = "redirect_mismatch"
    message, kind, code, subcode = GRAPH_ERRORS.get(error, (description, "OAuthException", 100, None))
    body: dict[str, Any] = {"message": message, "type": kind, "code": code,
                            "fbtrace_id": secrets.token_urlsafe(8)}
    if subcode:
        body["error_subcode"] = subcode
    return jsonify({"error": body}), 400


class FacebookSandbox(SandboxIdP):
    """The kit without ID tokens, plus Graph `/me` with field selection and appsecret_proof."""

    def __init__(self) -> None:
        super().__init__(
            "facebook", title="Facebook", colour="#1877f2", users=USERS,
            authorize_path=f"/{GRAPH_VERSION}/dialog/oauth",
            token_path=f"/{GRAPH_VERSION}/oauth/access_token",
            userinfo_path=f"/{GRAPH_VERSION}/me",
            id_tokens=False,
            auth_methods=("client_secret_post",),
            token_lifetime=5183944,  # about 60 days: a long-lived user token
            error_body=_graph_error,
        )
        self.profile_requests: list[str] = []  # full paths with query, for tests

    def token_response(self, grant: Grant, access_token: str) -> dict[str, Any]:
        # Facebook's answer has no scope; the granted permissions are a separate Graph call.
        return {"access_token": access_token, "token_type": "bearer", "expires_in": self.token_lifetime}

    def userinfo(self) -> Any:
        self.profile_requests.append(request.full_path)
        token = request.args.get("access_token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        grant = self.tokens.get(token)
        if grant is None:
            return self.error_body("invalid_token", "The access token is invalid.", 400)
        proof = request.args.get("appsecret_proof")
        secret = self.clients.get(grant.client_id, {}).get("secret", "")
        expected = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if proof is not None and not hmac.compare_digest(proof, expected):
            return self.error_body("invalid_proof", "appsecret_proof mismatch", 400)
        return jsonify(self.graph_user(grant, request.args.get("fields", "id,name")))

    def graph_user(self, grant: Grant, fields: str) -> dict[str, Any]:
        """The requested fields; email only when granted and the member has one, as Graph does."""
        user, answer = grant.user, {}
        granted = set(grant.scope.replace(",", " ").split())
        for name in fields.split(","):
            if name == "id":
                answer["id"] = user["sub"]
            elif name == "name":
                answer["name"] = user["name"]
            elif name == "email" and "email" in granted and user.get("email"):
                answer["email"] = user["email"]
            elif name == "picture":
                answer["picture"] = {"data": {"height": 50, "width": 50, "is_silhouette": False,
                                              "url": user["picture"]}}
        return answer


def create_sandbox() -> FacebookSandbox:
    return FacebookSandbox()
