"""Slack sign-in: "Sign in with Slack" (OpenID Connect).

Docs: https://docs.slack.dev/authentication/sign-in-with-slack/
Token method: https://docs.slack.dev/reference/methods/openid.connect.token
Sign-in cannot post: posting needs a separate app install (`oauth.v2.access` with the
bot scope `chat:write`), asked for when an admin connects a workspace for sharing.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session

from providers.base import Brand, LoginError, Profile
from providers.oauth import OIDCProvider

TEAM_ID = "https://slack.com/team_id"
TEAM_NAME = "https://slack.com/team_name"
USER_ID = "https://slack.com/user_id"


class Slack(OIDCProvider):
    kind = "slack"
    # Slack's sign-in button is white with dark text and a grey border (its own guidelines).
    brand = Brand("Slack", background="#ffffff", foreground="#1d1c1d", border="#8d8c8d")
    issuer_url = "https://slack.com"
    login_scopes = ("openid", "profile", "email")
    # The workspace app install (oauth.v2.access), not a user scope of this sign-in.
    sharing_scopes = ("chat:write",)
    # "team" is the workspace id from the validated ID token, for claim -> organisation mappings.
    hint_names = ("team",)
    # Slack's discovery lists client_secret_post and client_secret_basic; Slack's own
    # examples send the credentials in the body.
    token_auth_method = "client_secret_post"
    # Slack's discovery advertises no code_challenge_methods and openid.connect.token
    # documents no code_verifier: PKCE is not part of Sign in with Slack.
    pkce = False

    def session(self, redirect_uri: str) -> OAuth2Session:
        client = super().session(redirect_uri)
        client.register_compliance_hook("access_token_response", self._slack_errors)
        return client

    def _slack_errors(self, response: requests.Response) -> requests.Response:
        """Slack's Web API answers errors with HTTP 200 and {"ok": false, "error": "..."}."""
        try:
            body = response.json()
        except ValueError:
            return response  # not JSON: authlib raises for the status
        if isinstance(body, dict) and body.get("ok") is False:
            code = str(body.get("error") or "unknown_error")[:64]
            raise LoginError(self.name, f"Slack refused to finish the sign-in ({code}).", code="token_refused")
        return response

    def map_profile(self, claims: Mapping[str, Any]) -> Profile:
        # The team comes from the signed ID token, never from a request parameter.
        team = claims.get(TEAM_ID)
        allowed = self.settings.options.get("team_allow") or []
        if isinstance(allowed, str):
            allowed = [allowed]
        if allowed and team not in allowed:
            raise LoginError(self.name, "This Slack workspace is not allowed to sign in here.",
                             code="team_not_allowed")
        profile = super().map_profile(claims)
        return replace(profile, hints={"team": str(team)} if team else {})
