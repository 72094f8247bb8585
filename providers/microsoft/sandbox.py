"""A local Microsoft identity platform (v2.0 endpoints): discovery, authorize, token and keys per tenant.

Served over HTTPS in the demo and tests, because msal refuses http:// authorities.
Paths, claims and error bodies follow Microsoft's v2.0 documentation: the discovery
document of `common`/`organizations` names the issuer as the template
`{base}/{tenantid}/v2.0`, and each ID token's `iss` has the user's own tenant filled in.
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Response, jsonify, request

from providers.microsoft import PERSONAL_TENANT
from providers.sandbox_kit import Grant, SandboxIdP
from providers.sharepoint.sandbox import GraphSites
from providers.yammer.sandbox import YammerApi

CONTOSO = "5f2b1c3e-8a4d-4e6f-9b1a-2c3d4e5f6a7b"
FABRIKAM = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d"
TENANTS = {CONTOSO: "Contoso", FABRIKAM: "Fabrikam", PERSONAL_TENANT: "Microsoft accounts (personal)"}

# `sub` is only the picker's key here: ID tokens carry a pairwise sub computed per client.
USERS: list[dict[str, Any]] = [
    {"sub": "contoso-megan", "tid": CONTOSO, "oid": "3f7a2b9c-1d4e-4f5a-8b6c-7d8e9f0a1b2c",
     "name": "Megan Bowen", "given_name": "Megan", "family_name": "Bowen",
     "preferred_username": "megan@contoso.example", "email": "megan@contoso.example"},
    {"sub": "fabrikam-alex", "tid": FABRIKAM, "oid": "9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
     "name": "Alex Wilber", "preferred_username": "alex@fabrikam.example", "email": "alex@fabrikam.example"},
    # Fabrikam's admin typed someone else's address into Eve's mail attribute: Entra does not check.
    {"sub": "fabrikam-eve", "tid": FABRIKAM, "oid": "0d1e2f3a-4b5c-4d6e-8f7a-9b0c1d2e3f4a",
     "name": "Eve Mallory", "preferred_username": "eve@fabrikam.example", "email": "ada@partner.example"},
    {"sub": "personal-pat", "tid": PERSONAL_TENANT, "oid": "00000000-0000-0000-6a5b-4c3d2e1f0a9b",
     "name": "Pat Personal", "preferred_username": "pat@outlook.example", "email": "pat@outlook.example"},
]

# AADSTS codes for the kit's error descriptions (https://login.microsoftonline.com/error?code=N).
AADSTS: dict[str, tuple[int, str]] = {
    "Unknown client_id.": (700016, "Application with the given identifier was not found in the directory."),
    "redirect_uri is not registered for this client.": (
        50011, "The redirect URI specified in the request does not match the redirect URIs configured for the "
               "application."),
    "redirect_uri is required.": (900144, "The request body must contain the following parameter: 'redirect_uri'."),
    "Client authentication failed.": (7000215, "Invalid client secret provided. Ensure the secret being sent in "
                                               "the request is the client secret value, not the client secret ID."),
    "Only authorization_code is supported.": (70003, "The app requested an unsupported grant type."),
    "The code was already used.": (54005, "OAuth2 Authorization code was already redeemed, please retry with a "
                                          "new valid code or use an existing refresh token."),
    "The code is invalid or expired.": (70008, "The provided authorization code or refresh token has expired due "
                                               "to inactivity. Send a new interactive authorization request."),
    "redirect_uri does not match the authorization request.": (
        50148, "The code_verifier or redirect_uri does not match the authorization request."),
    "PKCE verification failed.": (501481, "The Code_Verifier does not match the code_challenge supplied in the "
                                          "authorization request."),
    "Unknown sandbox user.": (50034, "The user account does not exist in the directory."),
    "The access token is invalid.": (50000, "There was an error issuing a token or an issue with our sign-in "
                                            "service."),
}


def entra_error(error: str, description: str, status: int, code: int | None = None) -> tuple[Response, int]:
    """Entra's error body: error, AADSTS description with trace ids, error_codes, timestamp, ids."""
    known, text = AADSTS.get(description, (90014, description))
    code = code or known
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return jsonify({
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: {trace_id} Correlation ID: {correlation_id} "
                             f"Timestamp: {timestamp}",
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }), status


class MicrosoftSandbox(SandboxIdP):
    """The kit's authorization server with Entra's per-tenant paths and multi-tenant issuer."""
    # The page people read (the demo LMS links it): path under /sandbox/<kind>, network, what it shows.
    posts_view = ("/yammer/groups", "Viva Engage (Yammer)", "The communities' messages")

    def __init__(self) -> None:
        super().__init__(
            "microsoft", title="Microsoft", colour="#0067b8", users=USERS,
            discovery_path="/<tenant>/v2.0/.well-known/openid-configuration",
            authorize_path="/<tenant>/oauth2/v2.0/authorize",
            token_path="/<tenant>/oauth2/v2.0/token",
            jwks_path="/<tenant>/discovery/v2.0/keys",
            auth_methods=("client_secret_post", "client_secret_basic"),
            error_body=entra_error,
        )
        # Refresh tokens (offline_access) and the Yammer REST API that trusts this token endpoint.
        self.refresh_tokens: dict[str, Grant] = {}
        self.yammer = YammerApi(self.tokens)
        self.yammer.mount(self.blueprint)
        self.graph = GraphSites(self.tokens)  # SharePoint news through Graph, with app-only tokens
        self.graph.mount(self.blueprint)

    def _routes(self) -> None:
        bp = self.blueprint
        bp.record(self._remember_prefix)
        for name, view, methods in (("authorize", self.authorize, ["GET", "POST"]), ("token", self.token, ["POST"]),
                                    ("jwks", self.jwks, ["GET"]), ("discovery", self.discovery, ["GET"])):
            bp.add_url_rule(self.paths[name], name, self._in_tenant(view), methods=methods)
        bp.add_url_rule("/discovery/v2.0/keys", "jwks_any", self.jwks)  # also served without a tenant

    def _in_tenant(self, view: Callable[[], Any]) -> Callable[..., Any]:
        def endpoint(tenant: str) -> Any:
            if not self.known_tenant(tenant):
                return entra_error("invalid_tenant", f"Tenant '{tenant}' not found. Check to make sure you have "
                                   "the correct tenant ID and are signing into the correct cloud.", 400, code=90002)
            return view()
        return endpoint

    @staticmethod
    def known_tenant(tenant: str) -> bool:
        return tenant in {"common", "organizations", "consumers"} or tenant in TENANTS

    @staticmethod
    def tenant() -> str:
        return (request.view_args or {}).get("tenant", "common")

    def url_for(self, name: str) -> str:
        return self.base() + self.paths[name].replace("<tenant>", self.tenant())

    def issuer(self) -> str:
        """The issuer discovery names: a template for multi-tenant authorities, else one tenant."""
        tenant = self.tenant()
        if tenant in {"common", "organizations"}:
            return self.base() + "/{tenantid}/v2.0"
        return f"{self.base()}/{PERSONAL_TENANT if tenant == 'consumers' else tenant}/v2.0"

    def discovery(self) -> Response:
        tenant = self.tenant()
        return jsonify({
            "token_endpoint": self.url_for("token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": self.url_for("jwks"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": self.issuer(),
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": self.url_for("authorize"),
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{self.base()}/{tenant}/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name",
                                 "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr",
                                 "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "tenant_region_scope": None if tenant in {"common", "organizations", "consumers"} else "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net",
        })

    def admits(self, tenant: str, user: dict[str, Any]) -> bool:
        """Which accounts an authority lets sign in (the app's "supported account types")."""
        if tenant == "common":
            return True
        if tenant == "organizations":
            return user["tid"] != PERSONAL_TENANT
        if tenant == "consumers":
            return user["tid"] == PERSONAL_TENANT
        return user["tid"] == tenant

    def authorize(self) -> Any:
        chosen = next((u for u in self.users if u["sub"] == request.form.get("user")), None)
        redirect_uri = request.values.get("redirect_uri")
        if (request.method == "POST" and request.form.get("decision") == "allow" and chosen is not None
                and redirect_uri and not self.admits(self.tenant(), chosen)):
            params = {k: v for k, v in request.values.items() if k not in {"user", "decision"}}
            return self._back(redirect_uri, params, error="access_denied",
                              error_description=f"AADSTS50020: User account {chosen['preferred_username']} from "
                                                "identity provider does not exist in tenant and cannot access the "
                                                "application.")
        return super().authorize()

    def token(self) -> Any:
        if request.form.get("grant_type") == "refresh_token":
            return self.refresh()
        if request.form.get("grant_type") == "client_credentials":
            return self.client_credentials()
        return super().token()

    def client_credentials(self) -> Any:
        """The app-only grant: a token for the app itself in one tenant, for a resource's /.default scope."""
        self.token_requests += 1
        client_id = self.authenticate_client()
        if client_id is None:
            return entra_error("invalid_client", "Client authentication failed.", 401)
        tenant = self.tenant()
        if tenant not in TENANTS or tenant == PERSONAL_TENANT:
            return entra_error("invalid_request", "Use a tenant-specific endpoint for the client credentials "
                               "grant, not /common or /organizations.", 400, code=700016)
        scope = request.form.get("scope", "")
        if not scope.endswith("/.default") or len(scope.split()) != 1:
            return entra_error("invalid_scope", f"The provided value '{scope}' for the input parameter 'scope' is "
                               "not valid. The scope requested must be the resource identifier suffixed with "
                               "/.default.", 400, code=1002012)
        app = {"sub": client_id, "oid": pairwise_sub(client_id, tenant), "tid": tenant, "app": True}
        grant = Grant(client_id, None, app, scope, None, None)
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = grant
        return jsonify({"token_type": "Bearer", "expires_in": self.token_lifetime,
                        "ext_expires_in": self.token_lifetime, "access_token": access_token})

    def refresh(self) -> Any:
        """The refresh grant: a token for the scopes asked (e.g. https://www.yammer.com/.default).

        Like Entra, every redemption also returns a new refresh token (msal always asks for offline_access)
        and does not revoke the one redeemed: two workers redeeming the same token both succeed, and the old
        one lives on until it ages out (here: until `revoke_refresh_token`).
        """
        self.token_requests += 1
        client_id = self.authenticate_client()
        if client_id is None:
            return entra_error("invalid_client", "Client authentication failed.", 401)
        grant = self.refresh_tokens.get(request.form.get("refresh_token", ""))
        if grant is None or grant.client_id != client_id:
            return entra_error("invalid_grant", "The refresh token is invalid or was revoked.", 400, code=700082)
        fresh = Grant(client_id, None, grant.user, request.form.get("scope", grant.scope), None, None)
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = fresh
        return jsonify(self.token_response(fresh, access_token))

    def issue_refresh_token(self, client_id: str, sub: str, scope: str = "openid profile offline_access") -> str:
        """A refresh token for a sandbox user, as if they had connected their account (tests, demo)."""
        user = next(u for u in self.users if u["sub"] == sub)
        token = secrets.token_urlsafe(48)
        self.refresh_tokens[token] = Grant(client_id, None, user, scope, None, None)
        return token

    def revoke_refresh_token(self, token: str) -> None:
        """Make one refresh token unusable, as its lifetime running out or a revocation does at Entra (tests)."""
        self.refresh_tokens.pop(token, None)

    def token_response(self, grant: Grant, access_token: str) -> dict[str, Any]:
        body = super().token_response(grant, access_token)
        body["ext_expires_in"] = self.token_lifetime
        if "offline_access" in grant.scope.split():
            body["refresh_token"] = secrets.token_urlsafe(48)
            self.refresh_tokens[body["refresh_token"]] = grant  # rotated; old ones stay valid, as Entra's do
        # msal asks for client_info=1: the account's home ids, base64url JSON.
        info = json.dumps({"uid": grant.user["oid"], "utid": grant.user["tid"]}).encode()
        body["client_info"] = base64.urlsafe_b64encode(info).rstrip(b"=").decode()
        return body

    def id_claims(self, grant: Grant) -> dict[str, Any]:
        user, now = grant.user, int(time.time())
        scopes = grant.scope.split()
        claims: dict[str, Any] = {
            "ver": "2.0",
            "iss": f"{self.base()}/{user['tid']}/v2.0",  # the user's own tenant, even via /common
            "sub": pairwise_sub(grant.client_id, user["oid"]),
            "aud": grant.client_id,
            "exp": now + 3600, "iat": now, "nbf": now,
            "tid": user["tid"], "oid": user["oid"],
            "aio": secrets.token_urlsafe(24), "uti": secrets.token_urlsafe(16), "rh": "0.sandbox.",
        }
        if "profile" in scopes:
            claims.update({k: user[k] for k in ("name", "preferred_username", "given_name", "family_name")
                           if k in user})
        if "email" in scopes and user.get("email"):
            claims["email"] = user["email"]
        if grant.nonce:
            claims["nonce"] = grant.nonce
        return claims


def pairwise_sub(client_id: str, oid: str) -> str:
    """Entra's `sub` is pairwise: the same person has a different sub in every application."""
    digest = hashlib.sha256(f"{client_id}:{oid}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()[:43]


def create_sandbox() -> MicrosoftSandbox:
    return MicrosoftSandbox()
