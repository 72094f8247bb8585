"""Facebook sign-in: Facebook Login, plain OAuth 2.0 with the profile from the Graph API.

Manual login flow: https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow
PKCE: https://developers.facebook.com/docs/facebook-login/guides/advanced/oidc-token
Graph API versions: https://developers.facebook.com/docs/graph-api/changelog/versions/
Errors: https://developers.facebook.com/docs/graph-api/guides/error-handling
Posting to a user's feed was removed in 2018: sharing goes through the share dialog link.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import requests
from authlib.integrations.requests_client import OAuth2Session

from providers.base import Brand, LoginError, Profile
from providers.oauth import OAuth2Provider

# Every Graph API call names its version; an unversioned call gets the app's default,
# which moves under us. v26.0 (July 2026) is the newest; each version lives about two years.
GRAPH_VERSION = "v26.0"
PROFILE_FIELDS = "id,name,email,picture"


class Facebook(OAuth2Provider):
    kind = "facebook"
    # Facebook blue with white text, as in Meta's "Continue with Facebook" button. Meta's current blue
    # #0866ff, not the older #1877f2: white on #1877f2 is 4.2:1, below WCAG AA's 4.5:1 (axe flags it).
    brand = Brand("Facebook", background="#0866ff", foreground="#ffffff")
    authorize_url = f"https://www.facebook.com/{GRAPH_VERSION}/dialog/oauth"
    token_url = f"https://graph.facebook.com/{GRAPH_VERSION}/oauth/access_token"
    profile_url = f"https://graph.facebook.com/{GRAPH_VERSION}/me"
    login_scopes = ("public_profile", "email")
    scope_separator = ","  # the login dialog takes a comma separated list, as in Meta's examples
    # The code exchange takes client_id and client_secret as parameters, never Basic auth.
    token_auth_method = "client_secret_post"

    @property  # from the provider's options: a property where the base declares a class attribute
    def pkce(self) -> bool:  # type: ignore[override]
        """Meta documents PKCE (S256) for manually built flows, still marked "in testing": on unless turned off."""
        return _flag(self.settings.options.get("pkce"), default=True)

    def session(self, redirect_uri: str) -> OAuth2Session:
        client = super().session(redirect_uri)
        client.register_compliance_hook("access_token_response", self._graph_errors)
        return client

    def _graph_errors(self, response: requests.Response) -> requests.Response:
        """Graph errors are {"error": {"message", "type", "code", "fbtrace_id"}}, not RFC 6749 strings."""
        error = _graph_error(response)
        if error is not None:
            raise LoginError(self.name, f"Facebook refused to finish the sign-in ({error}).", code="token_refused")
        return response

    def profile(self, token: Mapping[str, Any], saved: Mapping[str, Any]) -> Profile:
        access_token = token["access_token"]
        url = self.rebase(self.profile_url, self.settings.api_base)
        data = self.request_json("GET", url, params={
            "fields": PROFILE_FIELDS,
            # Proves the call comes from the app's server; required when the app turns on
            # "Require App Secret", harmless otherwise.
            "appsecret_proof": hmac.new(self.settings.client_secret.encode(), access_token.encode(),
                                        hashlib.sha256).hexdigest(),
        }, headers={"Authorization": f"Bearer {access_token}"})
        return self.map_profile(data)

    def map_profile(self, data: Mapping[str, Any]) -> Profile:
        """Graph `/me` onto the hub's Profile; the email only counts as verified when the admin says so."""
        if not data.get("id"):
            raise LoginError(self.name, "Facebook did not say who signed in.", code="missing_subject")
        email = data.get("email") or None  # absent when not granted or the account has none
        picture = (data.get("picture") or {}).get("data") or {}
        return Profile(
            subject=str(data["id"]),  # an app-scoped user id: stable for this app only
            email=email,
            # The Graph API returns only a "valid" primary email and has no verified flag;
            # Meta does not document that it was confirmed. So by default the user confirms
            # it with a one-time link before an account is created or linked; an admin who
            # accepts Meta's check sets the option trust_email.
            email_verified=bool(email) and _flag(self.settings.options.get("trust_email"), default=False),
            name=data.get("name"),
            picture=None if picture.get("is_silhouette") else picture.get("url"),
            claims=dict(data),
        )


def _flag(value: Any, default: bool) -> bool:
    """An on/off option, given as a JSON bool or as `hub provider add --option KEY=true|false` text."""
    if value is None or value == "":
        return default
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def _graph_error(response: requests.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None
    parts = [str(error.get("type") or "OAuthException"), str(error.get("code") or "")]
    if error.get("error_subcode"):
        parts.append(f"subcode {error['error_subcode']}")
    if error.get("fbtrace_id"):
        parts.append(f"trace {error['fbtrace_id']}")
    return " ".join(p for p in parts if p)[:160]
