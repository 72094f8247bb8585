"""The hub as an OpenID Provider for the LMS: authorization code + PKCE, refresh rotation, JWKS rotation.

Built on authlib's server components (hub.idp.server); this package only stores, looks up and
decides. init_app wires the authorization server and the deprovisioning signals.
"""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Build the authorization server for this app and listen for users being disabled or erased."""
    from hub.idp import revocation, server

    app.extensions["idp_server"] = server.build(app)
    app.extensions["idp_keys"] = {}  # kid -> imported private key: unsealing per token costs ~1 ms
    revocation.connect_signals()
    # RPs may POST authorization requests (OIDC Core 3.1.2.1) without a CSRF token; the view checks the
    # consent form's token itself (hub.idp.views.authorize).
    app.extensions["csrf"].exempt("hub.idp.views.authorize")
