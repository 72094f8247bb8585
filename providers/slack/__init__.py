"""Slack sign-in: "Sign in with Slack" (OpenID Connect).

Docs: https://docs.slack.dev/authentication/sign-in-with-slack/
Token method: https://docs.slack.dev/reference/methods/openid.connect.token
Revocation: https://docs.slack.dev/reference/methods/auth.revoke (the bot token; the bot user is deactivated and
leaves its channels, the app stays installed until a workspace admin removes it).
Sign-in cannot post: posting needs a separate app install (`oauth.v2.access` with the
bot scope `chat:write`), asked for when an admin connects a workspace for sharing.
"""
from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from providers.base import Brand, Connected, LoginError, LoginStart, Permanent, Profile, Transient, check_address
from providers.oauth import OIDCProvider, new_secret
from providers.slack.publish import SLACK_APP_OPTION, SLACK_APPS

TEAM_ID = "https://slack.com/team_id"
TEAM_NAME = "https://slack.com/team_name"
USER_ID = "https://slack.com/user_id"
# The app install ("Add to Slack"): https://docs.slack.dev/authentication/installing-with-oauth
INSTALL_URL = "https://slack.com/oauth/v2/authorize"
INSTALL_TIMEOUT = 15  # seconds, for slack_sdk (urllib)
# auth.revoke errors that mean the token is already unusable: the revocation has nothing left to do.
ALREADY_GONE = frozenset({"token_revoked", "invalid_auth", "account_inactive"})


class Slack(OIDCProvider):
    kind = "slack"
    # Slack's sign-in button is white with dark text and a grey border (its own guidelines).
    brand = Brand("Slack", background="#ffffff", foreground="#1d1c1d", border="#8d8c8d")
    issuer_url = "https://slack.com"
    login_scopes = ("openid", "profile", "email")
    # The workspace app install (oauth.v2.access), not a user scope of this sign-in: post as the bot, and
    # find a post again after a crash (conversations.list needs channels:read, .history channels:history).
    sharing_scopes = ("chat:write", "channels:read", "channels:history")
    scope_words = MappingProxyType({"chat:write": "post messages as the hub's app",
                                    "channels:read": "see the workspace's channel names",
                                    "channels:history": "read channels the app is in (to avoid posting twice)"})
    # Which kind of app the hub's Slack app is decides the conversations.history limit (providers/slack/publish.py).
    option_choices = MappingProxyType({SLACK_APP_OPTION: SLACK_APPS})

    @classmethod
    def sandbox_overrides(cls, base: str) -> dict[str, str]:
        return {"issuer": base, "api_base": base}  # the Web API (posting, oauth.v2.access) lives on the same host

    # --- connecting a workspace for posting: the app install, bot token from oauth.v2.access ----
    def begin_connect(self, redirect_uri: str) -> LoginStart:
        """The "Add to Slack" URL with the bot scopes (comma-separated, as Slack wants them)."""
        state = new_secret()
        query = urlencode({"client_id": self.settings.client_id, "scope": ",".join(self.sharing_scopes),
                           "redirect_uri": redirect_uri, "state": state})
        url = self.url(self.rebase(INSTALL_URL, self.settings.auth_base or self.settings.issuer))
        return LoginStart(url=f"{url}?{query}", state=state, saved={})

    def finish_connect(self, params: Mapping[str, str], saved: Mapping[str, Any], redirect_uri: str) -> Connected:
        """oauth.v2.access through slack_sdk: the workspace (team.id) and its bot token (xoxb-)."""
        if "error" in params:
            code = params.get("error", "")[:64]
            raise LoginError(self.name, f"Slack did not install the app ({code}).", code="provider_denied")
        if not params.get("code"):
            raise LoginError(self.name, "Slack's answer carried no authorization code.", code="missing_code")
        client = self.web_client()
        try:
            answer = client.oauth_v2_access(client_id=self.settings.client_id,
                                            client_secret=self.settings.client_secret,
                                            code=params["code"], redirect_uri=redirect_uri)
        except SlackApiError as exc:
            code = str(exc.response.get("error") or "unknown_error")[:64]
            raise LoginError(self.name, f"Slack refused to install the app ({code}).", code="token_refused") from exc
        except (OSError, SlackClientError) as exc:
            raise Transient(self.name, "Slack could not be reached to finish the install.") from exc
        token, team = str(answer.get("access_token") or ""), answer.get("team") or {}
        if answer.get("token_type") != "bot" or not token.startswith("xoxb-") or not team.get("id"):
            raise LoginError(self.name, "Slack's install answer has no bot token (access_token).", code="no_bot_token")
        allowed = self.settings.options.get("team_allow") or []
        if allowed and team["id"] not in ([allowed] if isinstance(allowed, str) else allowed):
            raise LoginError(self.name, "This Slack workspace is not allowed here.", code="team_not_allowed")
        granted = tuple(scope for scope in str(answer.get("scope") or "").split(",") if scope)
        missing = [scope for scope in self.sharing_scopes if scope not in granted]
        if missing:
            raise LoginError(self.name, f"Slack did not grant the bot scopes ({', '.join(missing)}).",
                             code="scope_not_granted")
        tokens = {"access_token": token, "token_type": "bot", "bot_user_id": answer.get("bot_user_id"),
                  "app_id": answer.get("app_id")}
        return Connected(remote_id=str(team["id"]), name=team.get("name"), scopes=granted, tokens=tokens)

    def web_client(self, token: str | None = None) -> WebClient:
        """slack_sdk's Web API client on the configured base (Slack or its sandbox), without in-process retries."""
        base = (self.settings.api_base or self.settings.issuer or self.issuer_url).rstrip("/") + "/api/"
        context = ssl.create_default_context(cafile=self.settings.ca_bundle) if self.settings.ca_bundle else None
        # check_address: slack_sdk connects through urllib itself, so the API host is resolved and checked here.
        return WebClient(token=token, base_url=check_address(self.url(base), self.settings), timeout=INSTALL_TIMEOUT,
                         ssl=context, retry_handlers=[])

    def revoke_connection(self, tokens: Mapping[str, Any]) -> bool:
        """auth.revoke with the bot token itself; Slack answers HTTP 200 with ok:false for its errors."""
        try:
            self.web_client(str(tokens["access_token"])).auth_revoke()
        except SlackApiError as exc:
            if exc.response.status_code >= 500:  # slack_sdk raises SlackApiError for any non-200 answer
                raise Transient(self.name, f"Slack failed to revoke the token ({exc.response.status_code}).") from exc
            code = str(exc.response.get("error") or "unknown_error")[:64]
            if code in ALREADY_GONE:
                return True  # nothing left to revoke: the token is already dead at Slack
            raise Permanent(self.name, f"Slack refused to revoke the token ({code}).") from exc
        except (OSError, SlackClientError) as exc:
            raise Transient(self.name, "Slack could not be reached to revoke the token.") from exc
        return True

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
