"""A local Slack: Sign in with Slack on its documented paths, with Slack's `ok` envelopes.

Slack's Web API methods (openid.connect.token, openid.connect.userInfo) answer errors
with HTTP 200 and {"ok": false, "error": "invalid_code"}; the authorize page is HTML.
"""
from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request

from providers.sandbox_kit import Grant, SandboxIdP

T_PARTNER, T_OTHER = "T0PARTNER1", "T0OTHERWS2"
USERS = [
    {"sub": "U0PARTNER01", "https://slack.com/user_id": "U0PARTNER01", "https://slack.com/team_id": T_PARTNER,
     "https://slack.com/team_name": "Partner Co", "https://slack.com/team_domain": "partnerco",
     "email": "sam@partner.example", "email_verified": True, "name": "Sam Slack", "given_name": "Sam",
     "family_name": "Slack", "locale": "en-US", "picture": "https://secure.gravatar.com/avatar/sam.png",
     "https://slack.com/user_image_192": "https://secure.gravatar.com/avatar/sam-192.png"},
    {"sub": "U0OTHER0002", "https://slack.com/user_id": "U0OTHER0002", "https://slack.com/team_id": T_OTHER,
     "https://slack.com/team_name": "Other Workspace", "https://slack.com/team_domain": "otherws",
     "email": "olga@other.example", "email_verified": True, "name": "Olga Other", "given_name": "Olga",
     "family_name": "Other", "locale": "en-US", "picture": "https://secure.gravatar.com/avatar/olga.png"},
]

# RFC 6749 errors raised by the kit, in the words openid.connect.token uses.
SLACK_ERRORS = {
    "invalid_client": "bad_client_secret",
    "invalid_grant": "invalid_code",
    "unsupported_grant_type": "invalid_grant_type",
    "invalid_token": "invalid_auth",
}


def _slack_error(error: str, description: str, status: int) -> tuple[Response, int]:
    """Web API methods: HTTP 200 with ok:false; the authorize page keeps an HTTP error."""
    if request.path.endswith("/openid/connect/authorize"):
        return jsonify({"error": error, "error_description": description}), status
    if error == "invalid_grant" and "redirect_uri" in description:
        code = "bad_redirect_uri"
    else:
        code = SLACK_ERRORS.get(error, error)
    return jsonify({"ok": False, "error": code}), 200


class SlackSandbox(SandboxIdP):
    """The kit, wrapped in Slack's `ok` envelopes and without PKCE in discovery."""

    def __init__(self) -> None:
        super().__init__(
            "slack", title="Slack", colour="#4a154b", users=USERS,
            discovery_path="/.well-known/openid-configuration",
            authorize_path="/openid/connect/authorize",
            token_path="/api/openid.connect.token",
            userinfo_path="/api/openid.connect.userInfo",
            jwks_path="/openid/connect/keys",
            error_body=_slack_error,
        )

    def discovery_document(self) -> dict[str, Any]:
        document = super().discovery_document()
        document.pop("code_challenge_methods_supported", None)  # Slack advertises no PKCE
        document["response_modes_supported"] = ["form_post"]
        document["grant_types_supported"] = ["authorization_code"]
        return document

    def token_response(self, grant: Grant, access_token: str) -> dict[str, Any]:
        body = super().token_response(grant, access_token)
        body.pop("scope", None)
        body.pop("expires_in", None)  # without token rotation Slack's user tokens do not expire
        return {"ok": True, **body}

    def userinfo(self) -> Any:
        answer = super().userinfo()
        if isinstance(answer, Response) and answer.is_json:
            return jsonify({"ok": True, **answer.get_json()})
        return answer

    def id_claims(self, grant: Grant) -> dict[str, Any]:
        claims = super().id_claims(grant)
        claims["auth_time"] = claims["iat"]
        return claims


def create_sandbox() -> SlackSandbox:
    return SlackSandbox()
