"""SCIM 2.0 (RFC 7643/7644) at /scim/v2: the hub's users and organisations for LMS sync and deprovisioning.

Resources are scim2-models objects; hub/scim/users.py and groups.py map them to rows, api.py authenticates the
bearer token and turns SCIM exceptions into Error responses, discovery.py publishes what the hub supports.
"""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect


def init_app(app: Flask, csrf: CSRFProtect) -> None:
    """Register the SCIM API, exempt from CSRF: a bearer token, not a browser session, authenticates it."""
    from hub.scim import discovery, groups, users  # noqa: F401  (routes on api.bp)
    from hub.scim.api import bp

    app.register_blueprint(bp)
    csrf.exempt(bp)
