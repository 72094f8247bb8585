"""create_app: the application factory, a short list of init calls."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
import sqlalchemy.exc
from flask import Flask, current_app, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.routing import IntegerConverter

from hub import db, logs, rate_limits, redis_conn
from hub.clock import Clock
from hub.config import Settings, load_settings
from hub.crypto import Vault
from hub.models import MAX_KEY
from hub.provider_store import ProviderCache

csrf = CSRFProtect()


class KeyConverter(IntegerConverter):
    """`<int:...>` in every route: a number past what a primary key can hold (hub.models.MAX_KEY) reaches the view
    as 0, which no row has, so the view answers as for any unknown id (404) instead of PostgreSQL's 'integer out of
    range' as a 500. (Refusing it in the router instead makes werkzeug answer some such paths 405.)"""

    def to_python(self, value: str) -> int:
        number = int(super().to_python(value))
        return number if number <= MAX_KEY else 0


def create_app(env: Mapping[str, str] | Settings | None = None) -> Flask:
    """Build the hub from HUB_* settings (os.environ by default, or a mapping for tests)."""
    settings = env if isinstance(env, Settings) else load_settings(env)
    app = Flask(__name__, instance_path=str(settings.instance_path))
    app.config.update(
        # Flask reads FLASK_DEBUG into DEBUG: under gunicorn that would hand errors to the server instead of the
        # hub's 500 page (and `hub serve` must never start Werkzeug's debugger). The hub has no debug mode.
        DEBUG=False,
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_NAME="hub_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=settings.session_max_age,  # the cookie's; the server's record decides
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        WTF_CSRF_SSL_STRICT=False,  # the Origin check below replaces the Referer check
        PREFERRED_URL_SCHEME="https" if settings.secure_cookies else "http",
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
    )
    app.extensions["settings"] = settings
    app.extensions["clock"] = Clock()  # tests put in one they can move forward
    app.extensions["vault"] = Vault(settings.encryption_keys)
    app.extensions["providers"] = ProviderCache()
    # authlib logs code verifiers, and tweepy the user's bearer token, at DEBUG; never let that level through.
    for name in ("authlib", "tweepy"):
        logging.getLogger(name).setLevel(logging.INFO)
    logs.install()
    db.init_app(app, settings.database_url)
    redis_conn.init_app(app, settings)
    rate_limits.init_app(app, settings)
    csrf.init_app(app)
    app.url_map.converters["int"] = KeyConverter  # before any route is added: every <int:id> is a key in range
    _register_blueprints(app)
    if settings.sandboxes:
        from hub.demo import sandboxes  # demo and tests only: production never imports hub.demo

        sandboxes.init_app(app, csrf)
    from hub.auth.sessions import CookieSessions, current_user

    app.session_interface = CookieSessions()
    app.jinja_env.globals["current_user"] = current_user
    app.after_request(_security_headers)
    _error_pages(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from hub.account import bp as account_bp
    from hub.admin import bp as admin_bp
    from hub.auth.views import bp as auth_bp
    from hub.health import bp as health_bp
    from hub.sharing.connect import bp as connect_bp
    from hub.sharing.share import bp as share_bp
    from hub.tiles.api import bp as tiles_bp
    from webhooks.lms import bp as lms_webhooks_bp
    from webhooks.xapi.views import bp as xapi_bp

    for blueprint in (auth_bp, account_bp, admin_bp, health_bp, share_bp, connect_bp, lms_webhooks_bp, xapi_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(tiles_bp)
    csrf.exempt(lms_webhooks_bp)  # authenticated by its Standard Webhooks signature, not a browser session
    csrf.exempt(xapi_bp)  # LMS servers authenticate with Basic or Bearer credentials, not a browser session
    from hub import scim

    scim.init_app(app, csrf)  # SCIM 2.0 for LMS sync: bearer tokens, CSRF-exempt
    _register_idp(app)


def _register_idp(app: Flask) -> None:
    """The OpenID Provider: browser views (CSRF-protected consent) and machine endpoints (client-authenticated)."""
    from hub import idp
    from hub.idp import views as idp_views

    idp.init_app(app)
    app.register_blueprint(idp_views.bp)
    app.register_blueprint(idp_views.api)
    csrf.exempt(idp_views.api)  # token, userinfo, JWKS, discovery: client credentials or bearer tokens
    csrf.exempt(idp_views.logout)  # RPs may POST logout; the no-hint confirmation checks CSRF itself


# An https hub is https only: browsers remember it for a year, on subdomains too, and never try http first.
HSTS = "max-age=31536000; includeSubDomains"


def _security_headers(response: Any) -> Any:
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if current_app.extensions["settings"].hsts:  # an https HUB_BASE_URL, not on loopback
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if not request.path.startswith("/sandbox/"):
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self' http: https:; base-uri 'none'",
        )
        if "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]:  # tile fragments set their own
            response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith(("/auth/", "/login", "/account", "/admin")):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


# A ceiling above every route's own limit (the largest: an xAPI batch, 10 MiB, webhooks/xapi/views.py): werkzeug
# stops every read there, a chunked body included, so no route can be made to buffer an endless request. A body
# with a larger Content-Length is a 413 before anything reads it.
MAX_REQUEST_BYTES = 16 * 1024 * 1024

# Paths machines call (LMSs, SCIM clients, relying parties, embedded tiles): their errors are JSON, not pages.
MACHINE_PATHS = ("/webhooks/", "/xapi", "/scim/", "/oauth/", "/api/", "/.well-known/")


def _error_pages(app: Flask) -> None:
    from hub import audit

    def page(title: str, message: str, status: int, ref: str | None = None) -> Any:
        return render_template("error.html", title=title, message=message, ref=ref), status

    app.register_error_handler(CSRFError, lambda e: page(
        "Form expired", "This form expired or did not come from this site. Go back, reload and try again.", 400))
    app.register_error_handler(403, lambda e: page("Not allowed", "You don't have access to this page.", 403))
    app.register_error_handler(404, lambda e: page("Not found", "There is nothing at this address.", 404))
    @app.errorhandler(405)
    def not_allowed(error: Any) -> Any:
        allow = {"Allow": ", ".join(sorted(getattr(error, "valid_methods", None) or []))}
        if request.path.startswith(MACHINE_PATHS):
            return jsonify(error="method_not_allowed", message=f"{request.path} does not answer {request.method}",
                           allow=allow["Allow"]), 405, allow
        body, status = page("Not allowed", "That method is not allowed here.", 405)
        return body, status, allow

    @app.errorhandler(413)
    def too_large(_error: Any) -> Any:
        """Any body past MAX_CONTENT_LENGTH, with or without a Content-Length (werkzeug counts chunked ones too)."""
        limit = app.config["MAX_CONTENT_LENGTH"]
        if request.path.startswith(MACHINE_PATHS):
            return jsonify(error="too_large", message=f"a request body is at most {limit} bytes here"), 413
        return page("Too large", "That request was too large to take.", 413)

    @app.errorhandler(429)
    def too_many(error: Any) -> Any:
        """A rate limit (hub.rate_limits); /oauth/ and /scim/ answer in their own formats from their blueprints."""
        seconds = getattr(error, "retry_after", 60)
        headers = {"Retry-After": str(seconds)}
        if request.path.startswith(MACHINE_PATHS):
            return jsonify(error="too_many_requests", message=f"too many requests: retry in {seconds} seconds"), \
                429, headers
        body, status = page("Too many attempts", "Too many sign-in attempts came from your network. Wait "
                            f"{seconds} seconds, then try again.", 429)
        return body, status, headers

    @app.errorhandler(redis.exceptions.ConnectionError)
    @app.errorhandler(redis.exceptions.TimeoutError)
    @app.errorhandler(sqlalchemy.exc.OperationalError)
    def unavailable(error: Exception) -> Any:
        """Redis or the database is down: say so (503, retry later), without needing either to say it."""
        g.current_user = None  # the page's header must not ask the database who is signed in
        ref = audit.new_ref()
        app.logger.warning("dependency unavailable ref=%s: %s", ref, type(error).__name__)
        body, status = page("Temporarily unavailable", "The hub cannot reach its storage right now. Nothing was "
                            "changed. Please try again in a minute.", 503, ref)
        return body, status, {"Retry-After": "30"}

    @app.errorhandler(500)
    def internal(error: Any) -> Any:
        ref = audit.new_ref()
        app.logger.error("unhandled error ref=%s", ref, exc_info=getattr(error, "original_exception", error))
        return page("Something went wrong", "We could not finish that. Please try again in a moment.", 500, ref)
