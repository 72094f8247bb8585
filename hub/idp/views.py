"""The OpenID Provider's HTTP endpoints; authlib answers the protocol, these views add the hub's steps.

Browser-facing: /oauth/authorize (sign-in, consent), /oauth/resume/<id>, /oauth/logout.
Machine-facing (no CSRF, authenticated by client credentials or bearer tokens): discovery,
/oauth/token, /oauth/userinfo, /oauth/jwks.
"""
from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oidc.core.errors import ConsentRequiredError, LoginRequiredError
from authlib.oidc.rpinitiated import EndSessionRequest
from flask import Blueprint, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, validate_csrf
from sqlalchemy import select
from wtforms import ValidationError

from hub import audit, db, rate_limits
from hub.auth.sessions import current_user
from hub.idp import claims, freshness, handoff, keys
from hub.idp.server import CLIENT_AUTH_FAILED, SID_KEY, Client, presented_client_id
from hub.models import IdpConsent, User

bp = Blueprint("idp", __name__)
api = Blueprint("idp_api", __name__)

SCOPE_WORDS = {"openid": "Know who you are (a stable identifier)",
               "profile": "Your name, picture, organisation and groups",
               "email": "Your email address"}


def _server() -> AuthorizationServer:
    return current_app.extensions["idp_server"]


def _issuer() -> str:
    return current_app.extensions["settings"].base_url


def _error_page(error: OAuth2Error) -> tuple[str, int]:
    """An error we must not redirect (unknown client, unregistered redirect URI): tell the person."""
    ref = audit.record("idp.authorize", "failure", reason=error.error, detail={"description": error.description})
    message = {"invalid_client": "This application is not registered with the hub, or was switched off.",
               }.get(error.error or "", "This sign-in request from your learning platform is not valid.")
    return render_template("error.html", title="Sign-in request refused",
                           message=f"{message} ({error.description or error.error})", ref=ref), 400


def _redirect_error(error: OAuth2Error) -> Any:
    audit.record("idp.authorize", "failure", reason=error.error)
    server = _server()
    response = server.handle_error_response(server.create_oauth2_request(request), error)
    # authlib adds RFC 9207's `iss` only to what create_authorization_response returns; these errors are ours
    server.execute_hook("after_create_authorization_response", response)
    return response


def _is_consent_answer() -> bool:
    """A POST from the consent page (it has the CSRF field or a decision), not an RP's authorization request."""
    return "csrf_token" in request.form or "decision" in request.form


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    """Validate the LMS's request, make sure the user is signed in and agreed, then send the code back."""
    if request.method == "POST":
        if not _is_consent_answer():
            # OpenID Connect Core 3.1.2.1: an RP may POST the request form-encoded. It means the same as the
            # GET, so it becomes one (parking, freshness and the consent page all read the query).
            return redirect(url_for("idp.authorize") + "?" + urlencode(list(request.form.items(multi=True))), 303)
        try:  # CSRFProtect skips this view (an RP's POST carries no CSRF token); the consent form does
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from None
    server = _server()
    # authlib quotes these three in error descriptions, and raises ValueError (a 500) if one holds a character
    # RFC 6749 4.1.2.1 forbids there; no registered value does (clients.add), so none can be redirected to.
    for name in ("client_id", "redirect_uri", "response_type"):  # the others: server.PrintableParameters
        if any(invalid_error_characters(value) for value in request.args.getlist(name)):
            return _error_page(InvalidRequestError(f"The '{name}' parameter holds characters it cannot hold."))
    user = current_user()
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _redirect_error(error) if error.redirect_uri else _error_page(error)
    client: Client = grant.client
    params = request.args.to_dict()
    try:
        freshness.max_age(params, grant.redirect_uri)  # malformed: refused signed in or not, before any page
        stale = user is not None and freshness.needs_sign_in(params, grant.redirect_uri)
    except OAuth2Error as error:  # a malformed max_age
        error.state = grant.request.payload.state
        return _redirect_error(error)
    silent = "none" in (params.get("prompt") or "").split()
    if user is None or stale:
        if silent:  # authlib answers prompt=none without a session; a stale one is the same (OIDC Core 3.1.2.6)
            return _redirect_error(LoginRequiredError(redirect_uri=grant.redirect_uri,
                                                      state=grant.request.payload.state))
        return _send_to_sign_in(client)
    scopes = (grant.request.scope or "").split()  # what the hub grants: unknown scopes dropped (OIDC Core 5.4)
    if request.method == "POST":
        return _decide(grant, user, client, scopes)
    if client.row.first_party or (_consented(user, client, scopes) and grant.prompt != "consent"):
        return _issue(grant, user)
    if silent:
        return _redirect_error(ConsentRequiredError(redirect_uri=grant.redirect_uri,
                                                    state=grant.request.payload.state))
    return render_template("idp/consent.html", client=client.row, scopes=[(s, SCOPE_WORDS.get(s, s)) for s in scopes],
                           action=request.full_path, user=user)


def _send_to_sign_in(client: Client) -> Any:
    params = request.args.to_dict()
    path, binding = handoff.park(params, request.cookies.get(handoff.COOKIE), client_name=client.row.name,
                                 session_tag=freshness.before_parking())
    hint = params.get("login_hint", "")
    target = url_for("auth.login_page", next=path, email=hint if "@" in hint else None)
    response = redirect(target)
    response.set_cookie(handoff.COOKIE, binding, httponly=True, samesite="Lax", path="/oauth",
                        secure=current_app.extensions["settings"].secure_cookies)
    return response


def _consented(user: User, client: Client, scopes: list[str]) -> bool:
    consent = db.session().scalar(select(IdpConsent).where(IdpConsent.user_id == user.id,
                                                           IdpConsent.client_pk == client.row.id))
    return consent is not None and set(scopes) <= set(consent.scopes)


def _decide(grant: Any, user: User, client: Client, scopes: list[str]) -> Any:
    """The consent form's answer (CSRF-checked by the app's CSRFProtect)."""
    if request.form.get("decision") != "allow":
        audit.record("idp.consent", "denied", user_id=user.id, detail={"client": client.row.name})
        freshness.spend()
        return _server().create_authorization_response(grant_user=None, grant=grant)
    with db.transaction() as session_db:
        consent = session_db.scalar(select(IdpConsent).where(IdpConsent.user_id == user.id,
                                                             IdpConsent.client_pk == client.row.id))
        if consent is None:
            consent = IdpConsent(user_id=user.id, client_pk=client.row.id, scopes=[])
            session_db.add(consent)
        consent.scopes = sorted(set(consent.scopes) | set(scopes))
    audit.record("idp.consent", "success", user_id=user.id, detail={"client": client.row.name, "scopes": scopes})
    return _issue(grant, user)


def _issue(grant: Any, user: User) -> Any:
    session.setdefault(SID_KEY, secrets.token_urlsafe(16))  # the hub session, as `sid` in ID tokens
    freshness.spend()
    return _server().create_authorization_response(grant_user=user, grant=grant)


@bp.get("/oauth/resume/<request_id>")
def resume(request_id: str) -> Any:
    """Back from the social sign-in: replay the parked request (or refuse it, if the sign-in was refused)."""
    parked = handoff.take(request_id, request.cookies.get(handoff.COOKIE))
    if parked is None:
        return render_template("error.html", title="Sign-in expired", ref=None,
                               message="This sign-in took too long or was started in another browser. "
                                       "Go back to your learning platform and start again."), 400
    if request.args.get("denied"):
        return _deny(parked.params)
    freshness.after_resume(parked.params, parked.session_tag, parked.parked_at)
    # The LMS's parameters as they came, all in the query: url_for would take _anchor, _external, _scheme and
    # _method as options of its own.
    return redirect(f"{url_for('idp.authorize')}?{urlencode(parked.params)}")


def _deny(params: dict[str, str]) -> Any:
    """The hub refused the sign-in (disabled, pending approval, closed organisation): the LMS hears access_denied."""
    from werkzeug.datastructures import ImmutableMultiDict

    request.args = ImmutableMultiDict(params)  # authlib reads the (parked) request from flask's request
    try:
        grant = _server().get_consent_grant(end_user=None)
    except OAuth2Error as error:
        return _redirect_error(error) if error.redirect_uri else _error_page(error)
    return _server().create_authorization_response(grant_user=None, grant=grant)


@bp.route("/oauth/logout", methods=["GET", "POST"])
def logout() -> Any:
    """RP-initiated logout 1.0: with a valid id_token_hint at once; without one, after the user confirms."""
    server = _server()
    try:
        end = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        ref = audit.record("idp.logout", "failure", reason=error.error, detail={"description": error.description})
        return render_template("error.html", title="Sign-out request refused", ref=ref,
                               message="Your learning platform sent a sign-out request the hub cannot verify."), 400
    assert isinstance(end, EndSessionRequest), "end_session is authlib's RP-initiated logout endpoint"
    if end.needs_confirmation:
        if request.method == "GET" or request.form.get("confirm") != "1":
            return render_template("idp/logout.html", client=end.client)
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError as exc:
            raise CSRFError(str(exc)) from None
    response = server.create_endpoint_response("end_session", end)
    audit.record("idp.logout", "success", detail={"client": end.client.row.name if end.client else None})
    return response or render_template("idp/signed_out.html")


@api.get("/.well-known/openid-configuration")
def discovery() -> Any:
    """OpenID Connect Discovery 1.0 metadata; every URL from HUB_BASE_URL."""
    base = _issuer()
    document = {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": f"{base}/oauth/jwks",
        "end_session_endpoint": f"{base}/oauth/logout",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": list(claims.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [keys.ALG],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims.CLAIMS_SUPPORTED,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207
    }
    response = jsonify(document)
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"  # public metadata, read by browser-based tools too
    return response


@api.get("/oauth/jwks")
def jwks() -> Any:
    """Published keys: next, current and retired-but-needed (hub.idp.keys explains the rotation)."""
    session_db = db.session()
    keys.ensure(session_db, current_app.extensions["vault"])
    session_db.commit()
    response = jsonify(keys.published(session_db))
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"  # public keys, as discovery
    return response


@api.post("/oauth/token")
def token() -> Any:
    return _counting_client_failures(_server().create_token_response())


@api.post("/oauth/revoke")
def revoke() -> Any:
    """RFC 7009 token revocation for the token's own client (hub.idp.server.Revocation)."""
    return _counting_client_failures(_server().create_endpoint_response("revocation"))


def _counting_client_failures(response: Any) -> Any:
    """A failed client authentication counts against its client id and address; past the limit the answer is 429
    instead of 401. Only failures are looked at, so a client that authenticates is never refused."""
    if g.pop(CLIENT_AUTH_FAILED, False):
        rate_limits.client_auth_failed(presented_client_id(request))
    return response


@api.errorhandler(rate_limits.RateLimited)
def _too_many(exc: rate_limits.RateLimited) -> Any:
    """OAuth's error form (RFC 6749 5.2); no registered code means 'slow down' at these endpoints, hence ours."""
    description = f"Too many failed client authentications; retry in {exc.retry_after} seconds."
    return jsonify(error="too_many_requests", error_description=description), 429, {
        "Retry-After": str(exc.retry_after), "Cache-Control": "no-store", "Pragma": "no-cache"}


@api.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    return _server().create_endpoint_response("userinfo")
