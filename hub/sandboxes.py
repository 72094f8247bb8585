"""Mounts every provider's sandbox under /sandbox/<kind> (demo and tests only, HUB_SANDBOXES=1)."""
from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from providers import registry
from providers.sandbox_kit import SandboxIdP


def init_app(app: Flask, csrf: CSRFProtect) -> dict[str, SandboxIdP]:
    sandboxes: dict[str, SandboxIdP] = {}
    for kind, create in registry.sandbox_factories().items():
        sandbox = create()
        csrf.exempt(sandbox.blueprint)  # an emulated third party: its forms are not the hub's
        app.register_blueprint(sandbox.blueprint, url_prefix=f"/sandbox/{kind}")
        sandboxes[kind] = sandbox
    app.extensions["sandboxes"] = sandboxes
    from hub.demo_views import bp as demo_bp

    app.register_blueprint(demo_bp)
    return sandboxes
