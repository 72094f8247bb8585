"""Microsoft Entra ID sign-in (work, school and personal Microsoft accounts) through msal.

Docs: https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc
      https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference
      https://learn.microsoft.com/entra/msal/python/
msal runs the authorization code flow (state, PKCE S256, nonce). Since msal 1.38 it only
decodes the ID token, so the shared OIDC checks (signature against the JWKS, aud, exp,
iat, nonce) validate it here, with Microsoft's multi-tenant issuer rule on top.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msal
import requests

from providers.base import (
    DEFAULT_TIMEOUT,
    Brand,
    LoginError,
    LoginResult,
    LoginStart,
    Permanent,
    Profile,
    ProviderSettings,
    Transient,
    guarded,
)
from providers.oauth import OIDCProvider, new_secret

# Microsoft's own tenant for personal accounts (outlook.com, hotmail.com, xbox...).
PERSONAL_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
TENANT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TENANT_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
# Authorities whose discovery document names the issuer as a template, filled in per token.
MULTI_TENANT = frozenset({"common", "organizations"})
# Token response fields worth keeping; msal adds its own bookkeeping (id_token_claims, token_source).
TOKEN_FIELDS = ("access_token", "refresh_token", "id_token", "token_type", "expires_in", "ext_expires_in",
                "scope", "client_info")


class _TimeoutSession(requests.Session):
    """msal calls its http_client without timeouts (a slow Entra must not pin a worker) and without verify; its
    connections are guarded (providers.base.GuardedAdapter) as every provider call's are."""

    def __init__(self, settings: ProviderSettings, verify: bool | str) -> None:
        super().__init__()
        guarded(self, settings)
        self.verify = verify  # HUB_CA_BUNDLE, for a sandbox served over HTTPS

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        # Per request: requests lets REQUESTS_CA_BUNDLE override the session's verify (psf/requests#3829).
        kwargs.setdefault("verify", self.verify)
        return super().request(method, url, *args, **kwargs)


class _NoTokenCache(msal.TokenCache):
    """The hub seals each identity's tokens itself; msal's shared in-memory cache would keep every user's."""

    def add(self, event: dict[str, Any], now: Any = None) -> None:
        return None


class Microsoft(OIDCProvider):
    kind = "microsoft"
    # Microsoft's sign-in button guidance: white, grey #8C8C8C border, #5E5E5E text.
    brand = Brand("Microsoft", background="#ffffff", foreground="#5e5e5e", border="#8c8c8c")
    authority_host = "https://login.microsoftonline.com"
    issuer_url = authority_host + "/common/v2.0"
    hint_names = ("tid",)
    # msal always adds openid, profile and offline_access, and refuses them when passed.
    login_scopes = ("email",)

    @classmethod
    def sandbox_overrides(cls, base: str) -> dict[str, str]:
        """The sandbox stands in for login.microsoftonline.com; it must be an https base (msal's rule)."""
        return {"auth_base": base}

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self.tenant = str(settings.options.get("tenant") or "common").strip().lower()
        self._msal: msal.ConfidentialClientApplication | None = None
        self._msal_lock = threading.Lock()

    # --- where Entra is ---------------------------------------------------------------
    def host(self) -> str:
        return (self.settings.auth_base or self.authority_host).rstrip("/")

    def authority(self) -> str:
        if not (self.tenant in MULTI_TENANT | {"consumers"} or TENANT_ID.fullmatch(self.tenant)
                or TENANT_DOMAIN.fullmatch(self.tenant)):
            raise Permanent(self.name, "option tenant must be common, organizations, consumers, a tenant id "
                                       "or a tenant domain")
        return f"{self.host()}/{self.tenant}"

    def issuer(self) -> str:
        """The v2.0 discovery base; the issuer it names may be a {tenantid} template."""
        return self.authority() + "/v2.0"

    def issuer_values(self, claimed: str | None = None) -> set[str]:
        """The issuer discovery must name for the configured tenant."""
        host = self.host()
        if self.tenant in MULTI_TENANT:
            return {f"{host}/{{tenantid}}/v2.0"}
        if self.tenant == "consumers":
            return {f"{host}/{PERSONAL_TENANT}/v2.0"}
        if TENANT_ID.fullmatch(self.tenant):
            return {f"{host}/{self.tenant}/v2.0"}
        # A tenant domain (contoso.onmicrosoft.com) stands for one tenant id that only discovery tells.
        match = re.fullmatch(re.escape(host) + r"/([0-9a-f-]{36})/v2\.0", claimed or "")
        return {match.group(0)} if match and TENANT_ID.fullmatch(match.group(1)) else set()

    def token_issuers(self, claims: Mapping[str, Any]) -> set[str]:
        """`iss` must be the discovered issuer with the token's own `tid` filled in."""
        tid = claims.get("tid")
        if not isinstance(tid, str) or not TENANT_ID.fullmatch(tid):
            raise LoginError(self.name, "The ID token names no Microsoft tenant (tid).", code="invalid_id_token")
        expected = f"{self.host()}/{tid}/v2.0"
        if self.metadata()["issuer"].replace("{tenantid}", tid) != expected:
            raise LoginError(self.name, "The ID token comes from a tenant this sign-in is not configured for.",
                             code="invalid_id_token")
        return {expected}

    def client(self) -> msal.ConfidentialClientApplication:
        """One msal application per provider instance: tenant discovery happens once."""
        if self._msal is None:
            with self._msal_lock:
                if self._msal is None:
                    http = _TimeoutSession(self.settings, self.http.verify)
                    try:
                        self._msal = msal.ConfidentialClientApplication(
                            self.settings.client_id, client_credential=self.settings.client_secret,
                            authority=self.url(self.authority()), http_client=http, token_cache=_NoTokenCache(),
                            # Instance discovery asks login.microsoftonline.com whether a host is a
                            # Microsoft cloud: needless for the real host, impossible for a sandbox
                            # (and off the network); an --auth-base host is one the admin chose.
                            instance_discovery=False, validate_authority=self.host() == self.authority_host,
                        )
                    except requests.RequestException as exc:
                        raise Transient(self.name, "Microsoft could not be reached.") from exc
                    except ValueError as exc:  # msal: discovery failed or the authority is malformed
                        raise LoginError(self.name, "Microsoft sign-in is misconfigured (authority).",
                                         code="discovery_failed") from exc
        return self._msal

    # --- the flow ---------------------------------------------------------------------
    def begin_login(self, redirect_uri: str) -> LoginStart:
        return self.begin_flow(redirect_uri, tuple(self.settings.scopes or self.login_scopes))

    def begin_flow(self, redirect_uri: str, scopes: tuple[str, ...]) -> LoginStart:
        """msal's authorization code flow for these scopes (msal adds openid, profile and offline_access)."""
        state = new_secret()
        self.metadata()  # fail before the redirect if discovery names another issuer
        # response_mode=query, not form_post: the callback must carry the hub's SameSite=Lax session
        # cookie (the state is bound to the browser), which a cross-site POST would not. The callback
        # answers with a 302 to a clean URL under Referrer-Policy no-referrer, so the code does not leak.
        flow = self.client().initiate_auth_code_flow(list(scopes), redirect_uri=redirect_uri, state=state,
                                                     response_mode="query")
        return LoginStart(url=flow["auth_uri"], state=state, saved=flow)

    def finish_login(self, params: Mapping[str, str], saved: Mapping[str, Any], redirect_uri: str) -> LoginResult:
        if "error" in params:
            code = params.get("error", "")[:64]
            raise LoginError(self.name, f"Microsoft did not sign you in ({code}).", code="provider_denied")
        if not params.get("code"):
            raise LoginError(self.name, "The sign-in response carried no authorization code.", code="missing_code")
        flow = dict(saved)
        try:
            result = self.client().acquire_token_by_auth_code_flow(flow, {k: params[k] for k in params})
        except requests.RequestException as exc:
            raise Transient(self.name, "Microsoft could not be reached to finish the sign-in.") from exc
        except ValueError as exc:  # msal: state or scope does not match the flow
            raise LoginError(self.name, "The sign-in response does not match this sign-in.",
                             code="invalid_state") from exc
        except RuntimeError as exc:  # msal: the ID token's nonce is not this flow's
            raise LoginError(self.name, "The ID token failed a check (nonce).", code="invalid_id_token") from exc
        if "error" in result:
            code = str(result.get("error"))[:64]
            raise LoginError(self.name, f"Microsoft refused the sign-in code ({code}).", code="token_refused")
        claims = self.validate_id_token(result.get("id_token"), self.sent_nonce(flow))
        tokens = {key: result[key] for key in TOKEN_FIELDS if key in result}
        return LoginResult(profile=self.map_profile(claims), tokens=tokens)

    def sent_nonce(self, flow: Mapping[str, Any]) -> str:
        """The nonce as sent on the authorize URL: msal sends a hash of the flow's nonce, not the nonce."""
        sent = parse_qs(urlsplit(flow.get("auth_uri", "")).query).get("nonce", [""])[0]
        if not sent:
            raise LoginError(self.name, "The saved sign-in carries no nonce.", code="invalid_state")
        return sent

    def map_profile(self, claims: Mapping[str, Any]) -> Profile:
        tid, oid = str(claims["tid"]), claims.get("oid")
        if not isinstance(oid, str) or not oid:
            raise LoginError(self.name, "The ID token carries no object id (oid).", code="invalid_id_token")
        allowed = self.settings.options.get("tenant_allow") or []
        if isinstance(allowed, str):  # stored as text by a form rather than the CLI's list
            allowed = [part.strip() for part in allowed.split(",") if part.strip()]
        if allowed and tid not in allowed:
            raise LoginError(self.name, "Your Microsoft account's organisation is not allowed to sign in here.",
                             code="tenant_not_allowed")
        if self.tenant == "organizations" and tid == PERSONAL_TENANT:
            raise LoginError(self.name, "Personal Microsoft accounts cannot sign in here.", code="tenant_not_allowed")
        return Profile(
            # `sub` is pairwise (differs per app); tid + oid names the same person to every app.
            subject=f"{tid}:{oid}",
            email=claims.get("email"),
            # Entra lets tenant admins set `email` to any value without proof: never trusted.
            email_verified=False,
            name=claims.get("name"),
            given_name=claims.get("given_name"),
            family_name=claims.get("family_name"),
            hints={"tid": tid},
            claims=dict(claims),
        )
