"""X (Twitter) sign-in: plain OAuth 2.0 with PKCE (no ID token); the profile comes from GET /2/users/me.

Docs: https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code
      https://docs.x.com/fundamentals/authentication/oauth-2-0/user-access-token
      https://docs.x.com/x-api/users/user-lookup-me
Revocation (RFC 7009): POST https://api.x.com/2/oauth2/revoke, the "Step 5" of the user-access-token page.
The OAuth flow is authlib's (OAuth2Provider); tweepy's OAuth2UserHandler hard-codes X's
endpoints, so it is not used. tweepy only makes the /2/users/me call, through providers.x.api.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import requests
import tweepy

from providers.base import AuthExpired, Brand, Permanent, Profile, RateLimited, Transient
from providers.oauth import OAuth2Provider
from providers.x import api

# Always asked for: `id`, `name` and `username` come without asking.
USER_FIELDS = ("profile_image_url", "verified", "created_at")
EMAIL_SCOPE = "users.email"


class X(OAuth2Provider):
    kind = "x"
    brand = Brand("X", background="#000000", foreground="#ffffff")
    authorize_url = "https://x.com/i/oauth2/authorize"
    token_url = "https://api.x.com/2/oauth2/token"
    # /2/users/me needs both users.read and tweet.read; users.email adds `confirmed_email`
    # (the app must have "Request email from users" switched on at X, or the scope is refused).
    login_scopes = ("users.read", "tweet.read", EMAIL_SCOPE)
    # Posting: offline.access gives the refresh token a worker needs (access tokens last 2 h).
    sharing_scopes = ("tweet.write", "offline.access")
    scope_words = MappingProxyType({"tweet.write": "post on your behalf",
                                    "offline.access": "stay connected without asking again",
                                    "tweet.read": "read posts (to avoid posting twice)",
                                    "users.read": "know which account it is"})
    connect_identity_scopes = ("tweet.read", "users.read")  # /2/users/me names the connected account
    pkce = True  # X requires PKCE on every authorization code grant, confidential clients included
    token_auth_method = "client_secret_basic"  # X's confidential clients authenticate with Basic only
    revoke_url = "https://api.x.com/2/oauth2/revoke"
    revocation_auth_method = "client_secret_basic"  # as at the token endpoint: confidential clients use Basic

    def revoke_connection(self, tokens: Mapping[str, Any]) -> bool:
        """Revoke the refresh token first (it would mint new access tokens), then the access token."""
        url = self.rebase(self.revoke_url, self.settings.api_base or self.settings.auth_base)
        self.revoke_each(url, tokens, ("refresh_token", "access_token"))
        return True

    def profile(self, token: Mapping[str, Any], saved: Mapping[str, Any]) -> Profile:
        """The user behind the token, from /2/users/me; an email only when X says it is confirmed."""
        granted = str(token.get("scope", "")).split()
        # Ask for confirmed_email only when users.email was granted: without it X has nothing to give.
        fields = [*USER_FIELDS, *(["confirmed_email"] if EMAIL_SCOPE in granted else [])]
        user = self.me(str(token["access_token"]), fields)
        email = user.get("confirmed_email") or None
        return Profile(
            subject=str(user["id"]),  # a numeric string; usernames can be changed and reused
            email=email,
            email_verified=email is not None,  # X returns only an address the user has confirmed with X
            name=user.get("name") or user.get("username"),
            picture=user.get("profile_image_url"),
            claims=dict(user),
        )

    def me(self, access_token: str, fields: list[str]) -> dict[str, Any]:
        """GET /2/users/me through tweepy, with X's errors mapped onto the provider error tree."""
        client = api.client(access_token, self.settings, self.http.verify)
        try:
            response = client.get_me(user_auth=False, user_fields=fields)
        except tweepy.TooManyRequests as exc:
            reset = exc.reset_time or 0
            raise RateLimited(self.name, "X rate limit on /2/users/me",
                              retry_after=float(max(reset - int(time.time()), 1) if reset else 60)) from exc
        except tweepy.Unauthorized as exc:
            raise AuthExpired(self.name, "X refused the access token (401)") from exc
        except tweepy.TwitterServerError as exc:
            raise Transient(self.name, f"X failed ({exc.response.status_code})") from exc
        except tweepy.HTTPException as exc:
            raise Permanent(self.name, f"X refused the profile request ({exc.response.status_code})") from exc
        except requests.JSONDecodeError as exc:
            raise Permanent(self.name, "X answered /2/users/me with something that is not JSON") from exc
        except requests.RequestException as exc:
            raise Transient(self.name, f"X did not answer: {type(exc).__name__}") from exc
        except (KeyError, TypeError, ValueError) as exc:  # tweepy.User wants id, name and username
            raise Permanent(self.name, "X answered /2/users/me with an incomplete user") from exc
        finally:
            client.session.close()
        if response.data is None:
            raise Permanent(self.name, "X answered /2/users/me without a user")
        return dict(response.data.data)
