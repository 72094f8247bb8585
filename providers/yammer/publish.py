"""Posting to a Yammer / Viva Engage community: REST v1 `messages.json` with a delegated Entra token.

Docs: https://learn.microsoft.com/rest/api/yammer/messages-json-post
      https://learn.microsoft.com/viva/engage/configure-your-viva-engage-network/rest-api-rate-limits
      https://learn.microsoft.com/entra/identity-platform/refresh-tokens
The token comes from msal for the scope https://www.yammer.com/.default, redeemed from the
connected account's refresh token (delegated only: Yammer has no application permissions); the
refresh token Entra rotates in that answer goes back to the hub through `Target.rotated`.
Graph's Viva Engage API manages communities only and cannot post, so there is no application (app-only) posting:
`yammer:<group>` posts as the learner with their connected account, `yammer:org:<group>` as the organisation's
connected service account (an org connection, docs/providers/yammer.md). Messages have no hidden field,
so the marker ends the body; find() reads the group's newest messages for it.
"""
from __future__ import annotations

import threading
from typing import Any

import msal
import requests

from providers.base import AuthExpired, Permanent, Post, Published, Target, Transient
from providers.microsoft import _NoTokenCache, _TimeoutSession
from providers.publishing import HttpPublisher, with_marker

DEFAULT_API_BASE = "https://www.yammer.com"
AUTHORITY_HOST = "https://login.microsoftonline.com"
SCOPE = "https://www.yammer.com/.default"
EXTERNAL = "external-messaging,external-groups"
ORG_PREFIX = "org:"
FIND_LIMIT = 20
# Entra errors that only a new sign-in fixes.
REAUTH_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required", "login_required"})


class YammerPublisher(HttpPublisher):
    kind = "yammer"
    rate_limit = (10, 30)  # message endpoints: 10 requests per 30 s per user per app
    posts_as_learner = True
    # There is no Yammer sign-in provider: the hub borrows the Microsoft (Entra) app's client id, secret and
    # options (tenant), and when that config points at a stand-in Entra (the sandbox), the Yammer API is there too.
    credentials_from = "microsoft"
    api_under_auth_base = "/yammer"
    # yammer:<group> posts as the learner (their connected account, their consent); yammer:org:<group> posts as the
    # organisation's connected service account (docs/providers/yammer.md): Yammer takes delegated tokens only, so an
    # organisation's community posts need a real user account of its own.
    org_prefix = ORG_PREFIX

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.tenant = str(settings.options.get("tenant") or "organizations")
        self._msal: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def publish(self, target: Target, post: Post) -> Published:
        """A message in the group, with the link as its Open Graph preview."""
        values: dict[str, Any] = {"body": with_marker(_with_link(post), post.marker), "group_id": self._group(target)}
        if post.link:
            values |= {"og_url": post.link, "og_title": post.title or post.link}
            if post.image_url:
                values["og_image"] = post.image_url
        answer = self.send("POST", f"{self._base()}/api/v1/messages.json", json=values, headers=self._headers(target))
        messages = answer.json().get("messages") or []
        if not messages:
            raise Permanent(self.name, "Yammer accepted the message but returned none")
        return Published(remote_id=str(messages[0]["id"]), url=messages[0].get("web_url"))

    def find(self, target: Target, marker: str) -> Published | None:
        """The group's newest messages, scanned for the marker."""
        url = f"{self._base()}/api/v1/messages/in_group/{self._group(target)}.json?threaded=true&limit={FIND_LIMIT}"
        for message in self.send("GET", url, headers=self._headers(target)).json().get("messages") or []:
            if marker in str((message.get("body") or {}).get("plain") or ""):
                return Published(remote_id=str(message["id"]), url=message.get("web_url"))
        return None

    # --- plumbing -----------------------------------------------------------------------
    def _base(self) -> str:
        return (self.settings.api_base or DEFAULT_API_BASE).rstrip("/")

    def _group(self, target: Target) -> str:
        group = target.address.removeprefix(ORG_PREFIX)
        if not group.isdigit():
            raise Permanent(self.name, f"yammer destinations need the numeric v1 group id (yammer:<id> as the learner, "
                                       f"yammer:org:<id> as the organisation), not {target.address!r}")
        return group

    def _headers(self, target: Target) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.access_token(target)}"}
        if self.settings.options.get("external_groups"):
            headers["yammer-capabilities"] = EXTERNAL
        return headers

    def access_token(self, target: Target) -> str:
        """A Yammer-audience token from the connection's refresh token (msal, no sleeping, no cache)."""
        refresh_token = target.tokens.get("refresh_token")
        if not refresh_token:
            raise AuthExpired(self.name, "the Yammer connection has no refresh_token")
        try:
            result = self._client().acquire_token_by_refresh_token(str(refresh_token), scopes=[SCOPE])
        except requests.RequestException as exc:
            raise Transient(self.name, f"Entra did not answer: {type(exc).__name__}") from exc
        except ValueError as exc:
            raise Transient(self.name, "Entra answered the token request with something unreadable") from exc
        if "access_token" in result:
            rotated = result.get("refresh_token")
            if rotated and rotated != refresh_token:
                # Entra replaces the refresh token on every use and never extends the old one's lifetime:
                # keep the new one, stored before the post goes out, so the next send redeems it.
                target.rotated({**target.tokens, "refresh_token": str(rotated)})
            return str(result["access_token"])
        error = str(result.get("error") or "unknown_error")
        if error in REAUTH_ERRORS:
            raise AuthExpired(self.name, f"Entra refused the refresh token ({error}): reconnect the account")
        if error in {"temporarily_unavailable", "server_error"}:
            raise Transient(self.name, f"Entra failed ({error})")
        raise Permanent(self.name, f"Entra refused the Yammer token ({error})")

    def _client(self) -> msal.ConfidentialClientApplication:
        if self._msal is None:
            with self._lock:
                if self._msal is None:
                    http = _TimeoutSession(self.settings, self.http.verify)
                    host = (self.settings.auth_base or AUTHORITY_HOST).rstrip("/")
                    try:
                        self._msal = msal.ConfidentialClientApplication(
                            self.settings.client_id, client_credential=self.settings.client_secret,
                            authority=self.url(f"{host}/{self.tenant}"), http_client=http,
                            token_cache=_NoTokenCache(), instance_discovery=False,
                            validate_authority=host == AUTHORITY_HOST)
                    except requests.RequestException as exc:
                        raise Transient(self.name, "Entra could not be reached") from exc
                    except ValueError as exc:
                        raise Permanent(self.name, "the Entra authority for Yammer is misconfigured") from exc
        return self._msal


def _with_link(post: Post) -> str:
    return f"{post.text}\n{post.link}" if post.link else post.text
