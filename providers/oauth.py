"""The two sign-in flows every provider is built from: plain OAuth 2.0 and OpenID Connect.

authlib does the protocol (authorization URL, PKCE, token request); joserfc checks the
ID token. What authlib leaves to its caller is done here once: RFC 9207 `iss`, the
`aud`/`azp` rules, a cached key set, and issuer checks that tolerate a provider's
documented issuer variants.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749.errors import OAuth2Error
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization
from joserfc.jwt import JWTClaimsRegistry

from providers.base import (
    DEFAULT_TIMEOUT,
    Connected,
    LoginError,
    LoginResult,
    LoginStart,
    Profile,
    Provider,
    ProviderError,
    Transient,
    UnsafeURL,
    raise_for_status,
)

CLOCK_LEEWAY = 60  # seconds of clock skew tolerated on exp/iat
MAX_ID_TOKEN_AGE = 600  # an ID token issued longer ago than this is not fresh


class KeySetCache:
    """A provider's JWKS, fetched once and refetched only for an unknown kid (rotation)."""

    def __init__(self, fetch: Callable[[], KeySetSerialization], min_refetch_interval: float = 5.0,
                 max_age: float = 3600.0) -> None:
        self._fetch = fetch
        self._min_interval = min_refetch_interval
        self._max_age = max_age
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        # The throttle counts only refetches caused by unknown kids: a rotation seconds after the
        # routine fetch must still be picked up, while a stream of bogus kids costs one fetch per interval.
        self._unknown_kid_fetched_at = float("-inf")
        self._lock = threading.Lock()

    def _refresh(self) -> KeySet:
        with self._lock:
            keys = KeySet.import_key_set(self._fetch())
            self._keys, self._fetched_at = keys, time.monotonic()
            return keys

    def _current(self) -> KeySet:
        if self._keys is None or time.monotonic() - self._fetched_at > self._max_age:
            return self._refresh()
        return self._keys

    def candidates(self, kid: str | None) -> list[Any]:
        """Keys that may have signed a token with this kid; refetch once if the kid is new."""
        keys = self._current()
        found = _matching(keys, kid)
        if not found and time.monotonic() - self._unknown_kid_fetched_at >= self._min_interval:
            self._unknown_kid_fetched_at = time.monotonic()
            found = _matching(self._refresh(), kid)
        return found


def _matching(keys: KeySet, kid: str | None) -> list[Any]:
    if kid is None:
        return [key for key in keys.keys if key.key_type in {"RSA", "EC", "OKP"}]
    return [key for key in keys.keys if key.kid == kid]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class OAuth2Provider(Provider):
    """Authorization code flow with state and PKCE; the profile comes from an API call."""

    authorize_url: ClassVar[str]
    token_url: ClassVar[str]
    login_scopes: ClassVar[tuple[str, ...]] = ()
    pkce: ClassVar[bool] = True
    token_auth_method: ClassVar[str] = "client_secret_basic"
    scope_separator: ClassVar[str] = " "

    # --- endpoints, with the admin's overrides applied ---------------------------------
    def endpoints(self) -> Mapping[str, str]:
        """authorization_endpoint and token_endpoint, after URL overrides."""
        return {
            "authorization_endpoint": self.rebase(self.authorize_url, self.settings.auth_base),
            "token_endpoint": self.rebase(self.token_url, self.settings.api_base or self.settings.auth_base),
        }

    def rebase(self, url: str, base: str | None) -> str:
        """Point a production URL at an override base (a sandbox or compatible server), keeping its path."""
        if not base:
            return url
        from urllib.parse import urlsplit

        return base.rstrip("/") + urlsplit(url).path

    def scopes(self) -> tuple[str, ...]:
        return self.settings.scopes or self.login_scopes

    def session(self, redirect_uri: str) -> OAuth2Session:
        client = OAuth2Session(
            client_id=self.settings.client_id,
            client_secret=self.settings.client_secret,
            scope=self.scope_separator.join(self.scopes()),
            redirect_uri=redirect_uri,
            token_endpoint_auth_method=self.token_auth_method,
            code_challenge_method="S256" if self.pkce else None,
        )
        client.verify, client.trust_env = self.http.verify, self.http.trust_env
        # A fresh session per login (it will hold this user's token), sharing the provider's connection pools.
        for prefix, adapter in self.http.adapters.items():
            client.mount(prefix, adapter)
        return client

    # --- the flow --------------------------------------------------------------------
    def begin_login(self, redirect_uri: str) -> LoginStart:
        return self._begin(redirect_uri, self.scopes())

    def _begin(self, redirect_uri: str, scopes: tuple[str, ...]) -> LoginStart:
        state, extra = new_secret(), self.authorize_params()
        verifier = new_secret() + new_secret() if self.pkce else None
        url, _ = self.session(redirect_uri).create_authorization_url(
            self.url(self.endpoints()["authorization_endpoint"]), state=state, code_verifier=verifier,
            scope=self.scope_separator.join(scopes), **extra
        )
        saved = {"code_verifier": verifier, "issuer": self.expected_response_issuer(), **extra}
        return LoginStart(url=url, state=state, saved=saved)

    def authorize_params(self) -> dict[str, str]:
        """Extra authorization parameters (the nonce, for OIDC)."""
        return {}

    def expected_response_issuer(self) -> str | None:
        """The RFC 9207 `iss` the callback must carry, if the provider sends one."""
        return None

    def finish_login(self, params: Mapping[str, str], saved: Mapping[str, Any], redirect_uri: str) -> LoginResult:
        self.check_response(params, saved)
        token = self.exchange_code(params["code"], saved, redirect_uri)
        return LoginResult(profile=self.profile(token, saved), tokens=token)

    # --- connecting an account for posting: the sharing scopes, asked for apart from sign-in ---------
    # Scopes that name the account (its id) alongside the sharing scopes; sign-in never asks for sharing ones.
    connect_identity_scopes: ClassVar[tuple[str, ...]] = ()

    def connect_scopes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.connect_identity_scopes, *self.sharing_scopes)))

    def begin_connect(self, redirect_uri: str) -> LoginStart:
        """The authorization URL asking for the sharing scopes (state, PKCE and nonce as for sign-in)."""
        return self._begin(redirect_uri, self.connect_scopes())

    def finish_connect(self, params: Mapping[str, str], saved: Mapping[str, Any], redirect_uri: str) -> Connected:
        """Exchange the code, identify the account, and check the posting scopes were granted."""
        result = self.finish_login(params, saved, redirect_uri)
        tokens = {key: value for key, value in dict(result.tokens).items() if key != "id_token"}
        granted = tuple(str(tokens.get("scope") or "").replace(",", " ").split()) or self.connect_scopes()
        missing = [scope for scope in self.sharing_scopes if scope not in granted]
        if missing:
            raise LoginError(self.name, f"{self.brand.label} did not grant posting ({', '.join(missing)}).",
                             code="scope_not_granted")
        return Connected(remote_id=result.profile.subject, name=result.profile.name or result.profile.email,
                         scopes=granted, tokens=tokens)

    def check_response(self, params: Mapping[str, str], saved: Mapping[str, Any]) -> None:
        """Provider errors and RFC 9207 `iss`, before any token request."""
        if "error" in params:
            code = params.get("error", "")[:64]
            raise LoginError(self.name, f"{self.brand.label} did not sign you in ({code}).", code="provider_denied")
        issuer = params.get("iss")
        if issuer is None and self.requires_response_issuer():
            raise LoginError(self.name, "The sign-in response did not name its issuer.", code="issuer_missing")
        if issuer is not None and issuer not in self.accepted_issuers(saved):
            raise LoginError(self.name, "The sign-in response came from an unexpected issuer.", code="issuer_mismatch")
        if not params.get("code"):
            raise LoginError(self.name, "The sign-in response carried no authorization code.", code="missing_code")

    def accepted_issuers(self, saved: Mapping[str, Any]) -> set[str]:
        return {saved["issuer"]} if saved.get("issuer") else set()

    def requires_response_issuer(self) -> bool:
        """Whether a response without RFC 9207 `iss` is refused (the provider promised to send it)."""
        return False

    def exchange_code(self, code: str, saved: Mapping[str, Any], redirect_uri: str) -> dict[str, Any]:
        """The token request. Only what the network and the provider can do wrong becomes a ProviderError: a bug
        of ours (a TypeError, a KeyError) surfaces as itself, not as a provider that "could not be reached"."""
        url, params = self.token_endpoint(), self.token_params()
        client = self.session(redirect_uri)
        try:
            token = client.fetch_token(url, code=code, code_verifier=saved.get("code_verifier"),
                                       timeout=DEFAULT_TIMEOUT, **params)
        except (OAuth2Error, OAuthError) as exc:  # OAuth2Session raises OAuthError for an error body
            raise LoginError(self.name, f"{self.brand.label} refused the sign-in code ({exc.error}).",
                             code="token_refused") from exc
        except requests.HTTPError as exc:  # an error status without an RFC 6749 error body (a gateway's page)
            status = exc.response.status_code if exc.response is not None else "no status"
            raise Transient(self.name, f"{self.brand.label} failed to finish the sign-in ({status}).") from exc
        except requests.RequestException as exc:  # no connection, a timeout, a refused address
            raise Transient(self.name, f"{self.brand.label} could not be reached to finish the sign-in.") from exc
        except ValueError as exc:  # authlib: a 2xx answer whose body is not a JSON object
            raise Transient(self.name, f"{self.brand.label} answered the sign-in with something that is not a "
                                       "token.") from exc
        return dict(token)

    def token_endpoint(self) -> str:
        """The token endpoint, checked (https, or allowed loopback); a provider that names none, or an unsafe one,
        is misconfigured."""
        endpoint = self.endpoints().get("token_endpoint")
        if not endpoint:
            raise LoginError(self.name, f"{self.brand.label} names no token endpoint.", code="discovery_incomplete")
        try:
            return self.url(endpoint)
        except UnsafeURL as exc:
            raise LoginError(self.name, f"{self.brand.label}'s token endpoint is not https.",
                             code="unsafe_endpoint") from exc

    def token_params(self) -> dict[str, str]:
        return {}

    # --- RFC 7009 token revocation, for providers that document an endpoint -----------------
    # How the client authenticates at the revocation endpoint (RFC 7009 2.1); providers differ.
    revocation_auth_method: ClassVar[str] = "client_secret_basic"

    def revoke_token(self, url: str, token: str, hint: str | None = None) -> None:
        """Revoke one token through authlib's RFC 7009 request; an error answer raises (the hub logs it and
        deletes its copy anyway). A fresh session (no user token in it) over the provider's connection pools."""
        client = OAuth2Session(client_id=self.settings.client_id, client_secret=self.settings.client_secret,
                               revocation_endpoint_auth_method=self.revocation_auth_method)
        client.verify, client.trust_env = self.http.verify, self.http.trust_env
        for prefix, adapter in self.http.adapters.items():
            client.mount(prefix, adapter)
        try:
            response = client.revoke_token(self.url(url), token=token, token_type_hint=hint,
                                           timeout=DEFAULT_TIMEOUT)
        except requests.RequestException as exc:
            raise Transient(self.name, f"{self.name} did not answer the revocation: {type(exc).__name__}") from exc
        raise_for_status(self.name, response)

    def revoke_each(self, url: str, tokens: Mapping[str, Any], hints: tuple[str, ...]) -> None:
        """Revoke each token present under these names, in order; every one is tried even when an earlier one
        fails, and the first failure is raised afterwards."""
        failure: ProviderError | None = None
        for hint in hints:
            if not tokens.get(hint):
                continue
            try:
                self.revoke_token(url, str(tokens[hint]), hint)
            except ProviderError as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def profile(self, token: Mapping[str, Any], saved: Mapping[str, Any]) -> Profile:
        raise NotImplementedError


class OIDCProvider(OAuth2Provider):
    """OpenID Connect: discovery, nonce, and a fully validated ID token."""

    issuer_url: ClassVar[str]
    # Other issuer values the provider has documented for the same keys (LinkedIn, Google).
    issuer_aliases: ClassVar[tuple[str, ...]] = ()
    login_scopes: ClassVar[tuple[str, ...]] = ("openid", "email", "profile")
    connect_identity_scopes: ClassVar[tuple[str, ...]] = ("openid",)
    id_token_algs: ClassVar[tuple[str, ...]] = ("RS256",)
    use_userinfo: ClassVar[bool] = False

    @classmethod
    def sandbox_overrides(cls, base: str) -> dict[str, str]:
        return {"issuer": base}

    def __init__(self, settings: Any) -> None:
        super().__init__(settings)
        self._metadata: Mapping[str, Any] | None = None
        self._metadata_lock = threading.Lock()
        self.keys = KeySetCache(self._key_set)

    def _key_set(self) -> KeySetSerialization:
        """The provider's JWKS document (RFC 7517 §5), refused unless it holds a list of keys."""
        document = self.request_json("GET", self.metadata()["jwks_uri"])
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise LoginError(self.name, "The provider's jwks_uri did not answer a JSON Web Key Set.",
                             code="invalid_jwks")
        return {"keys": document["keys"]}

    def issuer(self) -> str:
        return (self.settings.issuer or self.issuer_url).rstrip("/")

    def discovery_url(self) -> str:
        return self.issuer() + "/.well-known/openid-configuration"

    def metadata(self) -> Mapping[str, Any]:
        """The discovery document, fetched once per provider instance and checked."""
        if self._metadata is None:
            with self._metadata_lock:
                if self._metadata is None:
                    document = self.request_json("GET", self.discovery_url())
                    if document.get("issuer") not in self.issuer_values(document.get("issuer")):
                        raise LoginError(self.name, "The provider's discovery document names another issuer.",
                                         code="discovery_issuer_mismatch")
                    self._metadata = document
        return self._metadata

    def issuer_values(self, _claimed: str | None = None) -> set[str]:
        """Issuer values accepted in discovery and ID tokens."""
        return {self.issuer(), *self.issuer_aliases_for_base()}

    def issuer_aliases_for_base(self) -> tuple[str, ...]:
        if self.settings.issuer and self.settings.issuer.rstrip("/") != self.issuer_url:
            return ()  # an overridden issuer is exact: aliases name production hosts
        return self.issuer_aliases

    def endpoints(self) -> Mapping[str, str]:
        return self.metadata()

    def authorize_params(self) -> dict[str, str]:
        return {"nonce": new_secret()}

    def expected_response_issuer(self) -> str | None:
        return self.metadata()["issuer"]

    def accepted_issuers(self, saved: Mapping[str, Any]) -> set[str]:
        return self.issuer_values()

    def requires_response_issuer(self) -> bool:
        # RFC 9207 2.4: once the metadata advertises `iss`, a response without it is refused,
        # or an attacker could strip it to slip a mix-up past the check.
        return bool(self.metadata().get("authorization_response_iss_parameter_supported"))

    def profile(self, token: Mapping[str, Any], saved: Mapping[str, Any]) -> Profile:
        claims = self.validate_id_token(token.get("id_token"), saved["nonce"])
        if self.use_userinfo:
            info = self.userinfo(token["access_token"])
            if info.get("sub") != claims["sub"]:
                raise LoginError(self.name, "The provider's user info names another user.",
                                 code="userinfo_sub_mismatch")
            claims = {**info, **claims}
        return self.map_profile(claims)

    def userinfo(self, access_token: str) -> dict[str, Any]:
        return self.request_json("GET", self.metadata()["userinfo_endpoint"],
                                 headers={"Authorization": f"Bearer {access_token}"})

    def map_profile(self, claims: Mapping[str, Any]) -> Profile:
        """Standard OIDC claims onto the hub's Profile; providers override for their quirks."""
        return Profile(
            subject=str(claims["sub"]),
            email=claims.get("email"),
            email_verified=claims.get("email_verified") in (True, "true"),
            name=claims.get("name"),
            given_name=claims.get("given_name"),
            family_name=claims.get("family_name"),
            picture=claims.get("picture"),
            hints={name: str(claims[name]) for name in self.hint_names if claims.get(name)},
            claims=dict(claims),
        )

    # --- ID token validation: OpenID Connect Core 3.1.3.7 -------------------------------
    def validate_id_token(self, id_token: str | None, nonce: str, now: float | None = None) -> dict[str, Any]:
        """Signature (JWKS, alg allow-list), iss, aud, azp, exp, iat, nonce, sub; raise LoginError on any miss."""
        if not id_token:
            raise LoginError(self.name, "The provider returned no ID token.", code="missing_id_token")
        claims = self._verified_claims(id_token)
        now = int(time.time() if now is None else now)
        client_id = self.settings.client_id
        registry = JWTClaimsRegistry(
            now=now,
            leeway=CLOCK_LEEWAY,
            iss={"essential": True, "values": sorted(self.token_issuers(claims))},
            aud={"essential": True, "value": client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            raise LoginError(self.name, f"The ID token failed a check ({_claim_of(exc)}).",
                             code="invalid_id_token") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != client_id:
            raise LoginError(self.name, "The ID token was issued to another client (azp).", code="invalid_id_token")
        if not isinstance(claims["iat"], (int, float)) or claims["iat"] < now - MAX_ID_TOKEN_AGE:
            raise LoginError(self.name, "The ID token is too old (iat).", code="invalid_id_token")
        return claims

    def token_issuers(self, claims: Mapping[str, Any]) -> set[str]:
        """Issuers an ID token may carry; Microsoft overrides this to fill in `tid`."""
        return self.issuer_values()

    def _verified_claims(self, id_token: str) -> dict[str, Any]:
        try:
            header = jws.extract_compact(id_token.encode()).headers()
        except (JoseError, ValueError) as exc:
            raise LoginError(self.name, "The ID token is malformed.", code="invalid_id_token") from exc
        if header.get("alg") not in self.id_token_algs:
            raise LoginError(self.name, f"The ID token uses an algorithm we do not accept ({header.get('alg')}).",
                             code="invalid_id_token")
        for key in self.keys.candidates(header.get("kid")):
            try:
                return dict(jwt.decode(id_token, key, algorithms=list(self.id_token_algs)).claims)
            except JoseError:
                continue
        raise LoginError(self.name, "The ID token's signature does not verify.", code="invalid_id_token")


def _claim_of(exc: JoseError) -> str:
    claim = getattr(exc, "claim", None)
    return claim or getattr(exc, "error", None) or type(exc).__name__
