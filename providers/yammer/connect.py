"""Connecting a learner's Viva Engage (Yammer) account for posting: a delegated Entra token through msal.

Docs: https://learn.microsoft.com/rest/api/yammer/app-registration (Entra app, Yammer > Delegated > access_as_user)
      https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow
      https://learn.microsoft.com/entra/identity-platform/scopes-oidc#the-default-scope
Viva Engage accepts posts only from a user's delegated token: Yammer has no application permissions and Graph's
Viva Engage API cannot post. There is no Yammer sign-in, so this kind connects through the configured Microsoft
(Entra) app (`credentials_from`): msal's authorization code flow asks for https://www.yammer.com/.default (msal adds
openid, profile and offline_access), the ID token is checked as Microsoft sign-in checks it, and the refresh token is
kept: the publisher redeems it for a Yammer token at each send (providers/yammer/publish.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from providers.base import Brand, Connected, LoginError, LoginStart
from providers.microsoft import Microsoft
from providers.yammer.publish import SCOPE

# Entra answers a /.default request with the resource's granted permissions (https://www.yammer.com/access_as_user,
# the delegated permission Yammer's app registration guide names; older apps: user_impersonation), not with /.default
# itself: any scope of the Yammer resource shows it was granted.
RESOURCE = "https://www.yammer.com/"


class YammerConnect(Microsoft):
    kind = "yammer"
    # Viva Engage's blue; drawn by us.
    brand = Brand("Viva Engage", background="#0078d4", foreground="#ffffff")
    credentials_from = "microsoft"
    sharing_scopes = (SCOPE,)
    # Entra answers Yammer's /.default with the resource's granted permission: each name, in plain words.
    scope_words = MappingProxyType({**{f"https://www.yammer.com/{name}": "post to your Viva Engage communities as you"
                                       for name in (".default", "access_as_user", "user_impersonation")},
                                    "offline_access": "stay connected without asking again",
                                    "openid": "know which account it is"})

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        # As the publisher: work and school accounts only (personal Microsoft accounts have no Viva Engage).
        self.tenant = str(settings.options.get("tenant") or "organizations").strip().lower()

    def begin_login(self, redirect_uri: str) -> LoginStart:
        raise NotImplementedError("Viva Engage accounts are connected for posting, never used to sign in")

    def begin_connect(self, redirect_uri: str) -> LoginStart:
        """Entra's authorize URL for the Yammer resource (state, PKCE and nonce by msal)."""
        return self.begin_flow(redirect_uri, self.sharing_scopes)

    def finish_connect(self, params: Mapping[str, str], saved: Mapping[str, Any], redirect_uri: str) -> Connected:
        """Redeem the code through msal, check the ID token, keep only the refresh token the publisher redeems."""
        result = self.finish_login(params, saved, redirect_uri)
        granted = tuple(str(result.tokens.get("scope") or "").split())
        if not any(scope.startswith(RESOURCE) for scope in granted):
            raise LoginError(self.name, "Microsoft did not grant posting to Viva Engage.", code="scope_not_granted")
        refresh_token = result.tokens.get("refresh_token")
        if not refresh_token:
            raise LoginError(self.name, "Microsoft did not let the hub stay connected to Viva Engage "
                                        "(no refresh token).", code="scope_not_granted")
        return Connected(remote_id=result.profile.subject, name=result.profile.name, scopes=granted,
                         tokens={"refresh_token": str(refresh_token)})
