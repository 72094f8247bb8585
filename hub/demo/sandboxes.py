"""Mounts every provider's sandbox under /sandbox/<kind> (demo and tests only, HUB_SANDBOXES=1).

Two families: sign-in sandboxes (app.extensions["sandboxes"], which the demo registers clients with)
and posting-only sandboxes for destination kinds without a sign-in provider, e.g. Teams workflows and
generic webhooks (app.extensions["posting_sandboxes"]), where tile readers' own feed servers (rss) are kept too.
Yammer is served inside the Microsoft sandbox.
"""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from providers import registry
from providers.sandbox_kit import SandboxIdP


def init_app(app: Flask, csrf: CSRFProtect) -> dict[str, SandboxIdP]:
    sandboxes: dict[str, SandboxIdP] = {}
    for kind, create in registry.sandbox_factories().items():
        sandboxes[kind] = _mount(app, csrf, kind, create())
    app.extensions["sandboxes"] = sandboxes
    posting: dict[str, Any] = {}
    for kind, create_posting in registry.posting_sandbox_factories().items():
        if kind not in sandboxes:
            posting[kind] = _mount(app, csrf, kind, create_posting())
    for kind, create_feed in registry.feed_sandbox_factories().items():  # feed servers for tile readers (rss)
        if kind not in sandboxes and kind not in posting:
            posting[kind] = _mount(app, csrf, kind, create_feed())
    app.extensions["posting_sandboxes"] = posting
    from hub.demo.views import bp as demo_bp

    app.register_blueprint(demo_bp)
    return sandboxes


def _mount(app: Flask, csrf: CSRFProtect, kind: str, sandbox: Any) -> Any:
    csrf.exempt(sandbox.blueprint)  # an emulated third party: its forms are not the hub's
    app.register_blueprint(sandbox.blueprint, url_prefix=f"/sandbox/{kind}")
    return sandbox
