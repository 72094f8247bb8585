"""Shared plumbing for provider sandboxes: a local authorization server on loopback.

Each provider's sandbox.py declares its documented paths, claim shapes and error
bodies and gets from here an authorize page with a user picker, a token endpoint
(client authentication, one-time codes bound to redirect URI and PKCE), RS256 ID
tokens from a rotating key set, and a JWKS endpoint. Tests reach in through
`faults` to make the next response misbehave, as a hostile provider would.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, render_template_string, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

PICKER = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} sandbox: sign in</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:28rem;margin:3rem auto;background:#fff;padding:2rem;border-radius:12px;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin-top:0;border-left:6px solid {{ colour }};padding-left:.6rem}
label{display:block;padding:.7rem;border:1px solid #ccd;border-radius:8px;margin:.4rem 0;cursor:pointer}
button{font:inherit;padding:.6rem 1.1rem;border-radius:8px;border:0;background:{{ colour }};color:#fff;cursor:pointer}
button.secondary{background:#e4e6eb;color:#1d2330}
:focus-visible{outline:3px solid #1a5fb4;outline-offset:2px}
small{color:#4a5163}
</style></head>
<body><main>
<h1>{{ title }} (sandbox)</h1>
<p><strong>{{ client_id }}</strong> asks to sign you in. Scopes: <code>{{ scope }}</code></p>
<form method="post">
{% for key, value in params.items() %}<input type="hidden" name="{{ key }}" value="{{ value }}">{% endfor %}
<fieldset style="border:0;padding:0"><legend>Choose a sandbox user</legend>
{% for user in users %}
<label><input type="radio" name="user" value="{{ user.sub }}" {% if loop.first %}checked{% endif %}>
 {{ user.get('name') or user.sub }} <small>{{ user.get('email') or 'no email' }}</small></label>
{% endfor %}</fieldset>
<p><button type="submit" name="decision" value="allow">Sign in</button>
<button type="submit" name="decision" value="deny" class="secondary">Cancel</button></p>
</form></main></body></html>"""


@dataclass
class Grant:
    client_id: str
    redirect_uri: str | None
    user: Mapping[str, Any]
    scope: str
    nonce: str | None
    code_challenge: str | None
    issued_at: float = field(default_factory=time.time)


@dataclass
class Faults:
    """Misbehaviour the next responses should show, set by tests."""

    id_token_claims: Callable[[dict], dict] | None = None  # rewrite claims before signing
    id_token_header: Mapping[str, Any] | None = None  # e.g. {"alg": "none"}
    raw_id_token: Callable[[str], str] | None = None  # rewrite the signed token
    response_params: Mapping[str, str] | None = None  # extra authorization response params
    userinfo: Callable[[dict], dict] | None = None
    jwks: Callable[[dict], Any] | None = None  # rewrite the published key set document
    token_delay: float = 0.0


class SandboxIdP:
    """One emulated authorization server; a provider's sandbox.py configures and extends it."""

    def __init__(
        self,
        kind: str,
        *,
        title: str,
        colour: str,
        users: list[dict[str, Any]],
        authorize_path: str,
        token_path: str,
        jwks_path: str | None = None,
        discovery_path: str | None = None,
        userinfo_path: str | None = None,
        issuer_path: str = "",
        id_tokens: bool = True,
        pkce: str = "optional",  # "optional", "required" or "rejected"
        auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post"),
        send_iss: bool = False,
        token_lifetime: int = 3600,
        error_body: Callable[[str, str, int], tuple[Response, int]] | None = None,
    ) -> None:
        self.kind, self.title, self.colour, self.users = kind, title, colour, users
        optional = {"jwks": jwks_path, "discovery": discovery_path, "userinfo": userinfo_path}
        # The endpoints this provider has: a path for each; one it lacks is absent, not served.
        self.paths: dict[str, str] = {"authorize": authorize_path, "token": token_path,
                                      **{name: path for name, path in optional.items() if path is not None}}
        self.issuer_path, self.id_tokens, self.pkce = issuer_path, id_tokens, pkce
        self.auth_methods, self.send_iss, self.token_lifetime = auth_methods, send_iss, token_lifetime
        self.error_body = error_body or _oauth_error
        self.clients: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, Grant] = {}
        self.tokens: dict[str, Grant] = {}
        self.used_codes: set[str] = set()
        self.faults = Faults()
        self.token_requests = 0
        self.jwks_requests = 0  # tests check that a client refetches keys only when it must
        self._lock = threading.Lock()
        self._keys: list[RSAKey] = []  # made on first use: generating RSA keys is the slow part of start-up
        self._prefix = ""
        self.blueprint = Blueprint(f"sandbox_{kind}", __name__)
        self._routes()

    # --- set-up, used by the demo and tests ---------------------------------------------
    def register_client(self, client_id: str, secret: str, redirect_uris: list[str] | None = None) -> None:
        self.clients[client_id] = {"secret": secret, "redirect_uris": redirect_uris or []}

    @property
    def keys(self) -> list[RSAKey]:
        """The published keys, the last one signing; the first is made when first needed."""
        with self._lock:
            if not self._keys:
                self._keys = [_new_key()]
            return self._keys

    @keys.setter
    def keys(self, keys: list[RSAKey]) -> None:
        self._keys = keys

    def rotate_keys(self, keep_old: bool = True) -> str:
        """Publish a new signing key (the old one stays published unless keep_old is False)."""
        kid = secrets.token_hex(8)
        self.keys = ([*self.keys] if keep_old else []) + [_new_key(kid)]
        return kid

    @property
    def signing_key(self) -> RSAKey:
        return self.keys[-1]

    def base(self) -> str:
        """This sandbox's public root, from the request that reached it."""
        return request.url_root.rstrip("/") + self._prefix

    def issuer(self) -> str:
        return self.base() + self.issuer_path

    def url_for(self, name: str) -> str:
        return self.base() + self.paths[name]

    # --- routes -----------------------------------------------------------------------
    def _routes(self) -> None:
        bp = self.blueprint
        bp.record(self._remember_prefix)
        bp.add_url_rule(self.paths["authorize"], "authorize", self.authorize, methods=["GET", "POST"])
        bp.add_url_rule(self.paths["token"], "token", self.token, methods=["POST"])
        if "jwks" in self.paths:
            bp.add_url_rule(self.paths["jwks"], "jwks", self.jwks)
        if "discovery" in self.paths:
            bp.add_url_rule(self.paths["discovery"], "discovery", self.discovery)
        if "userinfo" in self.paths:
            bp.add_url_rule(self.paths["userinfo"], "userinfo", self.userinfo, methods=["GET", "POST"])

    def _remember_prefix(self, state: Any) -> None:
        self._prefix = state.url_prefix or ""

    def discovery(self) -> Response:
        return jsonify(self.discovery_document())

    def discovery_document(self) -> dict[str, Any]:
        """The OpenID discovery document; sandboxes override to mirror their provider's gaps."""
        document: dict[str, Any] = {
            "issuer": self.issuer(),
            "authorization_endpoint": self.url_for("authorize"),
            "token_endpoint": self.url_for("token"),
            "jwks_uri": self.url_for("jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "claims_supported": sorted({k for u in self.users for k in u}),
        }
        if "userinfo" in self.paths:
            document["userinfo_endpoint"] = self.url_for("userinfo")
        if self.pkce != "rejected":
            document["code_challenge_methods_supported"] = ["S256"]
        if self.send_iss:
            document["authorization_response_iss_parameter_supported"] = True
        return document

    def jwks(self) -> Response:
        self.jwks_requests += 1
        document = dict(KeySet([*self.keys]).as_dict(private=False))
        return jsonify(self.faults.jwks(document) if self.faults.jwks else document)

    def authorize(self) -> Any:
        params = request.values.to_dict()
        params.pop("user", None)
        params.pop("decision", None)
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri")
        if client is None:
            return self.error_body("invalid_client", "Unknown client_id.", 400)
        if client["redirect_uris"] and redirect_uri not in client["redirect_uris"]:
            return self.error_body("invalid_request", "redirect_uri is not registered for this client.", 400)
        if params.get("response_type") != "code":
            return self._back(redirect_uri, params, error="unsupported_response_type")
        if self.pkce == "required" and params.get("code_challenge_method") != "S256":
            return self._back(redirect_uri, params, error="invalid_request",
                              error_description="code_challenge with S256 is required")
        if self.pkce == "rejected" and "code_challenge" in params:
            return self._back(redirect_uri, params, error="invalid_request",
                              error_description="PKCE is not enabled for this application")
        if request.method == "GET":
            return render_template_string(PICKER, title=self.title, colour=self.colour, users=self.users,
                                          params=params, client_id=params["client_id"], scope=params.get("scope", ""))
        if request.form.get("decision") != "allow":
            return self._back(redirect_uri, params, error="access_denied", error_description="The user cancelled.")
        user = next((u for u in self.users if u["sub"] == request.form.get("user")), None)
        if user is None:
            return self.error_body("invalid_request", "Unknown sandbox user.", 400)
        code = secrets.token_urlsafe(24)
        self.codes[code] = Grant(params["client_id"], redirect_uri, user, params.get("scope", ""),
                                 params.get("nonce"), params.get("code_challenge"))
        return self._back(redirect_uri, params, code=code)

    def _back(self, redirect_uri: str | None, params: Mapping[str, str], **answer: str) -> Any:
        if not redirect_uri:
            return self.error_body("invalid_request", "redirect_uri is required.", 400)
        if "state" in params:
            answer["state"] = params["state"]
        if self.send_iss:
            answer["iss"] = self.issuer()
        answer.update(self.faults.response_params or {})
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(redirect_uri + separator + urlencode(answer))

    def authenticate_client(self) -> str | None:
        auth = request.authorization
        if auth and auth.type == "basic" and "client_secret_basic" in self.auth_methods:
            client_id, secret = auth.username or "", auth.password or ""
        elif "client_secret_post" in self.auth_methods and "client_secret" in request.form:
            client_id, secret = request.form.get("client_id", ""), request.form["client_secret"]
        else:
            return None
        client = self.clients.get(client_id)
        if client and secrets.compare_digest(client["secret"], secret):
            return client_id
        return None

    def token(self) -> Any:
        self.token_requests += 1
        if self.faults.token_delay:
            time.sleep(self.faults.token_delay)
        client_id = self.authenticate_client()
        if client_id is None:
            return self.error_body("invalid_client", "Client authentication failed.", 401)
        if request.form.get("grant_type") != "authorization_code":
            return self.error_body("unsupported_grant_type", "Only authorization_code is supported.", 400)
        code = request.form.get("code", "")
        with self._lock:
            grant = self.codes.pop(code, None)
            replayed = grant is None and code in self.used_codes
            self.used_codes.add(code)
        if grant is None:
            return self.error_body("invalid_grant", "The code was already used." if replayed
                                   else "The code is invalid or expired.", 400)
        if grant.client_id != client_id or time.time() - grant.issued_at > 600:
            return self.error_body("invalid_grant", "The code is invalid or expired.", 400)
        if grant.redirect_uri and request.form.get("redirect_uri") != grant.redirect_uri:
            return self.error_body("invalid_grant", "redirect_uri does not match the authorization request.", 400)
        if grant.code_challenge and not _pkce_ok(request.form.get("code_verifier", ""), grant.code_challenge):
            return self.error_body("invalid_grant", "PKCE verification failed.", 400)
        access_token = secrets.token_urlsafe(32)
        self.tokens[access_token] = grant
        body = self.token_response(grant, access_token)
        return jsonify(body)

    def token_response(self, grant: Grant, access_token: str) -> dict[str, Any]:
        body: dict[str, Any] = {"access_token": access_token, "token_type": "Bearer",
                                "expires_in": self.token_lifetime, "scope": grant.scope}
        if self.id_tokens and "openid" in grant.scope.split():
            body["id_token"] = self.id_token(grant)
        return body

    def id_claims(self, grant: Grant) -> dict[str, Any]:
        """Claims of an ID token; sandboxes override to add provider-specific claims."""
        now = int(time.time())
        claims = {"iss": self.issuer(), "aud": grant.client_id, "iat": now, "exp": now + 3600, **grant.user}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        return claims

    def id_token(self, grant: Grant) -> str:
        claims = self.id_claims(grant)
        if self.faults.id_token_claims:
            claims = self.faults.id_token_claims(claims)
        header = {"alg": "RS256", "kid": self.signing_key.kid, **(self.faults.id_token_header or {})}
        if header["alg"] == "none":
            token = _unsigned(header, claims)
        else:
            token = jwt.encode(header, claims, self.signing_key, algorithms=[header["alg"]])
        if self.faults.raw_id_token:
            token = self.faults.raw_id_token(token)
        return token

    def bearer_grant(self) -> Grant | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        return self.tokens.get(header[len("Bearer "):])

    def userinfo(self) -> Any:
        grant = self.bearer_grant()
        if grant is None:
            return self.error_body("invalid_token", "The access token is invalid.", 401)
        info = dict(grant.user)
        if self.faults.userinfo:
            info = self.faults.userinfo(info)
        return jsonify(info)


def _new_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or secrets.token_hex(8), "use": "sig", "alg": "RS256"})


def _pkce_ok(verifier: str, challenge: str) -> bool:
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return secrets.compare_digest(digest, challenge)


def _unsigned(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    import json

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}."


def _oauth_error(error: str, description: str, status: int) -> tuple[Response, int]:
    """RFC 6749 section 5.2 error body."""
    return jsonify({"error": error, "error_description": description}), status
