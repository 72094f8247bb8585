"""authlib's authorization server, wired to the hub's storage.

authlib does the protocol (request validation, client authentication, PKCE, ID token
encoding, error responses); the classes here only answer its questions: which client,
which code, which token, which user, which key.
"""
from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import (
    ClientMixin,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oauth2.rfc6750 import BearerTokenValidator, InvalidTokenError
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode, OpenIDToken, UserInfo, UserInfoEndpoint
from authlib.oidc.core.errors import RequestNotSupportedError, RequestURINotSupportedError
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, current_app, g, session
from flask import request as http_request
from sqlalchemy import CursorResult, select, update

from hub import clock, db, json_input
from hub.crypto import token_hash
from hub.idp import claims, clients, keys, revocation
from hub.idp.lifetimes import ACCESS_TOKEN_SECONDS, CODE_SECONDS, ID_TOKEN_SECONDS, REFRESH_TOKEN_SECONDS
from hub.models import AuthorizationCode, IdpToken, OAuthClient, User, UserStatus

AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


def _now() -> datetime:
    """The app's clock (hub.clock): codes, tokens and ID tokens expire by it, so tests move it instead of sleeping."""
    return clock.now()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _active_user(user: User | None) -> User | None:
    """Tokens are only ever issued or honoured for an active user."""
    return user if user is not None and user.status == UserStatus.ACTIVE else None


class Client(ClientMixin):
    """An OAuthClient row as authlib sees it."""

    def __init__(self, row: OAuthClient) -> None:
        self.row = row
        self.client_id = row.client_id
        self.client_metadata = {"post_logout_redirect_uris": list(row.post_logout_uris)}

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> str:
        return ""  # none: OpenID Connect requires redirect_uri on every request (authlib refuses a falsy default)

    def get_allowed_scope(self, scope: Collection[str] | str | None) -> str:
        """The requested scopes the hub grants (authlib hands the request's space-separated string, or None)."""
        requested = scope.split() if isinstance(scope, str) else scope or ()
        return " ".join(s for s in requested if s in claims.SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris  # exact match, as RFC 9700 2.1 requires

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(token_hash(client_secret or ""), self.row.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in {"authorization_code", "refresh_token"}


class Code(AuthorizationCodeMixin):
    def __init__(self, row: AuthorizationCode) -> None:
        self.row = row
        self.code_challenge = row.code_challenge
        self.code_challenge_method = row.code_challenge_method

    def get_redirect_uri(self) -> str:
        return self.row.redirect_uri

    def get_scope(self) -> str:
        return self.row.scope

    def get_nonce(self) -> str | None:
        return self.row.nonce

    def get_auth_time(self) -> int:
        return self.row.auth_time

    def get_amr(self) -> list[str]:
        return [self.row.idp] if self.row.idp else []  # empty: no amr claim


class Token(TokenMixin):
    def __init__(self, row: IdpToken, presented: str = "access_token") -> None:
        self.row = row
        self.scope = row.scope
        self.presented = presented  # which of the row's two tokens the client sent (revocation)

    def check_client(self, client: Client) -> bool:
        return self.row.client_pk == client.row.id

    def get_scope(self) -> str:
        return self.row.scope

    def get_expires_in(self) -> int:
        return int((_aware(self.row.access_expires_at) - _aware(self.row.issued_at)).total_seconds())

    def is_expired(self) -> bool:
        return _aware(self.row.access_expires_at) <= _now()

    def is_revoked(self) -> bool:
        return (self.row.revoked_at is not None or self.row.client.revoked_at is not None
                or _active_user(self.row.user) is None)

    def get_user(self) -> User:
        return self.row.user

    def get_client(self) -> Client:
        return Client(self.row.client)


class _IdTokenClaims:
    """Shared by the code and refresh grants: keys, iss, lifetime, and the hub's extra claims."""

    def resolve_client_private_key(self, client: Client) -> Any:
        return keys.signing_key(db.session(), current_app.extensions["vault"], current_app.extensions["idp_keys"])

    def get_client_algorithm(self, client: Client) -> str:
        return keys.ALG

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": keys.ALG, "kid": self.resolve_client_private_key(client).kid}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(_now().timestamp())
        # aud as a string: OIDC Core 2 allows it for one audience, and RPs that compare aud == client_id (Canvas,
        # authlib's RP-initiated logout resolving the client from the hint) accept only that form.
        return {"iss": current_app.extensions["settings"].base_url, "aud": client.get_client_id(),
                "iat": now, "exp": now + ID_TOKEN_SECONDS}

    def get_compatible_claims(self, request: Any) -> dict[str, Any]:
        # A mixin: super() is authlib's OpenIDCode or OpenIDToken in the grants' extensions that use it.
        found = super().get_compatible_claims(request)  # type: ignore[misc]
        source = request.authorization_code.row if request.authorization_code else request.refresh_token.row
        found.update(auth_time=source.auth_time, azp=request.client.get_client_id())
        if source.sid:
            found["sid"] = source.sid
        if source.idp:
            found.update(idp=source.idp, amr=[source.idp])
        return found

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return claims.user_info(db.session(), user, scope)


class HubOpenIDCode(_IdTokenClaims, OpenIDCode):
    def exists_nonce(self, nonce: str, request: Any) -> bool:
        client = clients.active(db.session(), request.payload.client_id)
        return client is not None and db.session().scalar(select(AuthorizationCode.id).where(
            AuthorizationCode.client_pk == client.id, AuthorizationCode.nonce == nonce).limit(1)) is not None


class HubOpenIDRefresh(_IdTokenClaims, OpenIDToken):
    """A refreshed ID token (OIDC Core 12.2): same sub, auth_time of the original sign-in, no nonce."""


class S256Only(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]  # "plain" protects nothing
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"  # a code stored without a method is never compared as plain

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        """A code bound to a challenge, redeemed without a (well-formed) verifier, is invalid_grant like a wrong one:
        the code cannot be used that way (RFC 6749 5.2), and it is spent either way. authlib says invalid_request."""
        verifier = grant.request.form.get("code_verifier")
        if self.get_authorization_code_challenge(grant.request.authorization_code) and (
                not verifier or not CODE_VERIFIER_PATTERN.match(verifier)):
            raise InvalidGrantError(description="This code was issued with PKCE: send its 'code_verifier'.")
        super().validate_code_verifier(grant, result)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        """A challenge without its method means plain (RFC 7636 4.3), which the hub refuses: say so, as for plain."""
        data = grant.request.payload.data
        if data.get("code_challenge") and not data.get("code_challenge_method"):
            raise InvalidRequestError("Send 'code_challenge_method=S256' with 'code_challenge' (plain is refused).")
        super().validate_code_challenge(grant, redirect_uri)


class NoRequestObjects:
    """`request` and `request_uri` are refused, not ignored (OpenID Connect Core 3.1.2.6, 6): their claims
    would override the plain parameters, so answering from the plain ones would answer another request."""

    def __call__(self, grant: Any) -> None:
        grant.register_hook("before_validate_authorization_request_payload", self.refuse)

    def refuse(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if data.get("request") is not None:
            raise RequestNotSupportedError("Request objects ('request') are not supported.")
        if data.get("request_uri") is not None:
            raise RequestURINotSupportedError("'request_uri' is not supported.")


CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


class PrintableParameters:
    """A parameter with a control character is invalid_request (RFC 6749 Appendix A: state and the others are
    printable ASCII), at the redirect URI, before a NUL reaches the database (PostgreSQL refuses it).
    client_id, redirect_uri and response_type are checked earlier, in views.authorize: authlib quotes them
    in error descriptions, which raise ValueError (a 500) on anything outside RFC 6749's error charset."""

    def __call__(self, grant: Any) -> None:
        # "before": a grant's hooks are a set, run in no fixed order, and OpenIDCode's nonce check (a query)
        # runs "after"; errors raised here still go to the validated redirect_uri.
        grant.register_hook("before_validate_authorization_request_payload", self.refuse)

    def refuse(self, grant: Any, redirect_uri: str) -> None:
        for name, values in grant.request.payload.datalist.items():
            if any(CONTROL_CHARACTERS.search(value) for value in values):
                raise InvalidRequestError(f"The '{_printable_name(name)}' parameter contains control characters.")


def _printable_name(name: str) -> str:
    """A parameter's name fit for an error description (RFC 6749 4.1.2.1's character set)."""
    return "".join("?" if invalid_error_characters(c) else c for c in name[:40])


class HubIssuer(IssuerParameter):
    """RFC 9207: `iss` on every authorization response, errors included (views.redirect_error adds it to
    the errors the views raise themselves)."""

    def get_issuer(self) -> str:
        return current_app.extensions["settings"].base_url


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS

    def save_authorization_code(self, code: str, request: Any) -> None:
        client_row: OAuthClient = request.client.row
        payload = request.payload.data
        session_db = db.session()
        session_db.add(AuthorizationCode(
            code_hash=token_hash(code), grant_id=secrets.token_urlsafe(24), client_pk=client_row.id,
            user_id=request.user.id, redirect_uri=request.payload.redirect_uri, scope=request.scope or "",
            nonce=payload.get("nonce"), code_challenge=payload.get("code_challenge"),
            code_challenge_method=payload.get("code_challenge_method") if payload.get("code_challenge") else None,
            auth_time=int(session.get("auth_time") or _now().timestamp()), idp=session.get("idp"),
            sid=session.get(SID_KEY), expires_at=_now() + timedelta(seconds=CODE_SECONDS)))
        session_db.commit()

    def query_authorization_code(self, code: str, client: ClientMixin) -> Code | None:
        """Spend the code here, atomically: a second use finds it spent and revokes what it issued."""
        session_db = db.session()
        client_row = _hub_client(client).row
        row = session_db.scalar(select(AuthorizationCode).where(AuthorizationCode.code_hash == token_hash(code),
                                                                AuthorizationCode.client_pk == client_row.id))
        if row is None:
            return None
        claimed = cast(CursorResult[Any], session_db.execute(update(AuthorizationCode).where(
            AuthorizationCode.id == row.id, AuthorizationCode.used_at.is_(None)).values(used_at=_now())
            .execution_options(synchronize_session=False)))
        session_db.commit()
        if claimed.rowcount != 1:
            revocation.revoke_grant(session_db, row.grant_id)  # RFC 6749 4.1.2: replay revokes its tokens
            session_db.commit()
            return None
        if _aware(row.expires_at) <= _now():
            return None
        return Code(row)

    def delete_authorization_code(self, authorization_code: Code) -> None:
        """Kept (spent) until it expires, so a replay is recognised; see query_authorization_code."""

    def authenticate_user(self, authorization_code: Code) -> User | None:
        return _active_user(authorization_code.row.user)


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh returns a new refresh token

    # None: not found, refused or spent (authlib's code answers invalid_grant for it; its stub says TokenMixin only).
    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:  # type: ignore[override]
        """Spend the refresh token atomically; a spent one coming back means theft: end the whole grant."""
        session_db = db.session()
        client_row = _hub_client(self.request.client).row
        row = session_db.scalar(select(IdpToken).where(IdpToken.refresh_hash == token_hash(refresh_token),
                                                       IdpToken.client_pk == client_row.id))
        if row is None or row.revoked_at is not None:
            return None
        if row.refresh_expires_at is None or _aware(row.refresh_expires_at) <= _now():
            return None
        if _active_user(row.user) is None:
            return None
        claimed = cast(CursorResult[Any], session_db.execute(
            update(IdpToken).where(IdpToken.id == row.id, IdpToken.rotated_at.is_(None))
            .values(rotated_at=_now()).execution_options(synchronize_session=False)))
        session_db.commit()
        if claimed.rowcount != 1:
            revocation.revoke_grant(session_db, row.grant_id)
            session_db.commit()
            return None
        return Token(row)

    def authenticate_user(self, refresh_token: Token) -> User | None:
        return _active_user(refresh_token.row.user)

    def revoke_old_credential(self, refresh_token: TokenMixin) -> None:
        """Already spent in authenticate_refresh_token."""


SID_KEY = "idp_sid"


def _save_token(token: dict[str, Any], request: Any) -> None:
    """Store both tokens hashed; a refreshed token joins the grant of the token it replaces."""
    source = request.authorization_code.row if request.authorization_code else request.refresh_token.row
    now = _now()
    db.session().add(IdpToken(
        grant_id=source.grant_id, client_pk=request.client.row.id, user_id=request.user.id,
        access_hash=token_hash(token["access_token"]),
        refresh_hash=token_hash(token["refresh_token"]) if token.get("refresh_token") else None,
        scope=token.get("scope", ""), auth_time=source.auth_time, idp=source.idp, sid=source.sid, issued_at=now,
        access_expires_at=now + timedelta(seconds=int(token.get("expires_in", ACCESS_TOKEN_SECONDS))),
        refresh_expires_at=now + timedelta(seconds=REFRESH_TOKEN_SECONDS) if token.get("refresh_token") else None))
    db.session().commit()


CLIENT_AUTH_FAILED = "idp_client_auth_failed"  # flask.g: views count the failure (hub.rate_limits)


class HubAuthorizationServer(AuthorizationServer):
    """authlib's server; client authentication refuses two methods at once and notes every failure."""

    def authenticate_client(self, request: Any, methods: Collection[str], endpoint: str = "token") -> Client:
        try:
            _one_method_only(request)
            return _hub_client(super().authenticate_client(request, methods, endpoint))
        except InvalidClientError:
            g.setdefault(CLIENT_AUTH_FAILED, True)
            raise


def _one_method_only(request: Any) -> None:
    """RFC 6749 2.3: a client MUST NOT use more than one authentication method in a request. authlib would take
    the first that works; refusing is clearer, and with a client_id in the body naming another client, safer."""
    basic_id = _basic_client_id(request)
    if basic_id is None:
        return
    if request.form.get("client_secret") is not None or request.form.get("client_id") not in (None, basic_id):
        raise InvalidClientError(status_code=401, description="Authenticate one way only: HTTP Basic, or "
                                 "client_id and client_secret in the body, not both.")


def _basic_client_id(request: Any) -> str | None:
    """The client id in HTTP Basic, read as authlib reads it (whose UnicodeDecodeError would be a 500)."""
    try:
        return extract_basic_authorization(request.headers)[0]
    except UnicodeDecodeError:
        raise InvalidClientError(status_code=401, description="The Basic credentials are not UTF-8.") from None


def presented_client_id(request: Any) -> str | None:
    """The client id a token or revocation request names (Basic first, as authlib reads it), authenticated or not."""
    try:
        return _basic_client_id(request) or request.form.get("client_id")
    except InvalidClientError:
        return None  # undecodable: the failure counts against the address alone


def _hub_client(client: ClientMixin | None) -> Client:
    """The client authlib hands back is the one _query_client made (authlib types it as its base)."""
    assert isinstance(client, Client), "authlib's clients come from _query_client"
    return client


def _query_client(client_id: str) -> Client | None:
    row = clients.active(db.session(), client_id)
    return Client(row) if row is not None else None


class AccessTokens(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        row = db.session().scalar(select(IdpToken).where(IdpToken.access_hash == token_hash(token_string or "")))
        return Token(row) if row is not None else None


class NoBearerToken(InvalidTokenError):
    """RFC 6750 3.1: a request without a bearer token (none, or another scheme) gets the bare challenge,
    no error code (authlib's answer, `missing_authorization`, is not an RFC 6750 code)."""

    def get_headers(self) -> list[tuple[str, str]]:
        return [*OAuth2Error.get_headers(self), ("WWW-Authenticate", "Bearer")]

    def get_body(self) -> list[tuple[Literal["error", "error_description", "error_uri"], str | None]]:
        return [("error_description", "Send an access token: 'Authorization: Bearer <token>', or the form field "
                                      "'access_token' in a form-encoded POST.")]


class TwoBearerTokens(InvalidTokenError):
    """RFC 6750 2: a client MUST NOT send the token more than one way; 3.1 calls that invalid_request."""

    error = "invalid_request"
    status_code = 400
    description = "Send the access token one way only: the Authorization header or the form body."


class BearerProtector(ResourceProtector):
    """authlib reads only the Authorization header (RFC 6750 2.1); userinfo also takes the token from a
    form-encoded POST body (2.2), which OpenID Connect Core 5.3.1 lets RPs use. Never from the query (2.3):
    URLs end up in logs."""

    def parse_request_authorization(self, request: Any) -> Any:
        header = request.headers.get("Authorization") or ""
        in_body = None
        if http_request.method == "POST" and http_request.mimetype == "application/x-www-form-urlencoded":
            in_body = http_request.form.get("access_token")
        if in_body is not None:
            if header:
                raise TwoBearerTokens()
            return self.get_token_validator("bearer"), in_body
        scheme, _, token_string = header.partition(" ")
        if scheme.lower() != "bearer" or not token_string.strip():
            raise NoBearerToken()
        return self.get_token_validator("bearer"), token_string.strip()


class UserInfoView(UserInfoEndpoint):
    def get_issuer(self) -> str:
        return current_app.extensions["settings"].base_url

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        return claims.user_info(db.session(), user, scope)

    def resolve_private_key(self) -> Any:
        return keys.signing_key(db.session(), current_app.extensions["vault"], current_app.extensions["idp_keys"])


class Revocation(RevocationEndpoint):
    """RFC 7009: a client ends its own token. A refresh token ends its whole grant (every generation, and
    the access tokens issued beside them, RFC 7009 2.1); an access token ends its row, which holds the
    refresh token issued with it. Unknown and already revoked tokens answer 200 as the RFC asks."""

    CLIENT_AUTH_METHODS = AUTH_METHODS

    def check_params(self, request: Any, client: Client) -> None:
        """Only `token` is required. authlib refuses an unknown token_type_hint (401), but RFC 7009 2.1
        says the hint only speeds up the search and a server looks everywhere when it misleads."""
        if not request.form.get("token"):
            raise InvalidRequestError("Missing 'token' parameter.")

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        digest = token_hash(token_string or "")
        columns = {"access_token": (IdpToken.access_hash,), "refresh_token": (IdpToken.refresh_hash,)}
        # The hint only orders the search (RFC 7009 2.1): a wrong hint still finds the token.
        order = columns.get(token_type_hint or "", ()) + (IdpToken.access_hash, IdpToken.refresh_hash)
        for column in order:
            row = db.session().scalar(select(IdpToken).where(column == digest))
            if row is not None:
                return Token(row, presented="refresh_token" if column is IdpToken.refresh_hash else "access_token")
        return None

    def revoke_token(self, token: Token, request: Any) -> None:
        session_db = db.session()
        if token.presented == "refresh_token":
            revocation.revoke_grant(session_db, token.row.grant_id, reason="revoked by the client")
        elif token.row.revoked_at is None:
            token.row.revoked_at = _now()
        session_db.commit()


class EndSession(EndSessionEndpoint):
    """RP-Initiated Logout 1.0. authlib checks the hint's signature against the published keys (an expired hint is
    accepted, as section 2 allows) and, without client_id, takes the client from the hint's aud; the hub adds that
    the hint must be its own (iss), so a token another issuer signed with a key we also publish cannot steer it."""

    def validate_request(self, request: Any) -> Any:
        _check_jwt_depth(request.payload.data.get("id_token_hint") or "")
        end = super().validate_request(request)
        if end.id_token_claims is not None and end.id_token_claims.get("iss") != current_app.extensions[
                "settings"].base_url:
            raise InvalidRequestError("id_token_hint was not issued by this hub.")  # before any redirect
        return end

    def resolve_client_from_id_token_claims(self, id_token_claims: dict[str, Any]) -> Client | None:
        """The client the hint was issued to: aud is one client id (a list of one, in tokens issued before aud
        became a string); anything else names no client, so there is no redirect."""
        aud = id_token_claims.get("aud")
        if isinstance(aud, list) and len(aud) == 1:
            aud = aud[0]
        return _query_client(aud) if isinstance(aud, str) else None

    def get_server_jwks(self) -> dict[str, Any]:
        return keys.published(db.session())

    def get_algorithms(self) -> list[str]:
        return [keys.ALG]

    def end_session(self, end_session_request: Any) -> None:
        revocation.end_browser_session(db.session(), end_session_request.id_token_claims)


def _check_jwt_depth(token: str) -> None:
    """joserfc decodes a JWT's header (before the signature is checked) and its claims with Python's json, which
    raises RecursionError (a 500) on deep nesting: a segment nested past json_input.MAX_DEPTH is invalid_request."""
    for segment in token.split(".")[:2]:
        try:
            decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except ValueError:
            return  # not base64url: joserfc refuses it with its own message
        try:
            json_input.check_depth(decoded)
        except json_input.InvalidJson as exc:
            raise InvalidRequestError(f"id_token_hint: {exc}") from None


def build(app: Flask) -> AuthorizationServer:
    """One authorization server per app (its config holds the token lifetimes)."""
    app.config.setdefault("OAUTH2_REFRESH_TOKEN_GENERATOR", True)
    app.config.setdefault("OAUTH2_TOKEN_EXPIRES_IN", {"authorization_code": ACCESS_TOKEN_SECONDS,
                                                      "refresh_token": ACCESS_TOKEN_SECONDS})
    # No OAUTH2_SCOPES_SUPPORTED: with it authlib refuses a request naming any scope the hub lacks
    # (invalid_scope), where OpenID Connect Core 5.4 says unknown scopes are ignored; Client.get_allowed_scope
    # drops them instead, and the code and tokens carry only the scopes the hub knows.
    server = HubAuthorizationServer(app, query_client=_query_client, save_token=_save_token)
    server.register_extension(HubIssuer())
    server.register_grant(CodeGrant, [HubOpenIDCode(require_nonce=False), S256Only(required=True),
                                      NoRequestObjects(), PrintableParameters()])
    server.register_grant(RefreshGrant, [HubOpenIDRefresh()])
    protector = BearerProtector()
    protector.register_token_validator(AccessTokens())
    # authlib documents registering its UserInfoEndpoint, which it does not derive from Endpoint (duck-typed).
    server.register_endpoint(UserInfoView(resource_protector=protector))  # type: ignore[arg-type]
    server.register_endpoint(EndSession())
    server.register_endpoint(Revocation())
    app.extensions["idp_protector"] = protector
    return server
