"""Every posting sandbox in one small Flask app, served over HTTP and HTTPS on loopback.

Provider-level publishing tests need no hub: publishers are built from ProviderSettings
pointed at these sandboxes, as the hub would build them. `case(kind)` gives each
registered destination kind a ready publisher, target and a way to read what landed.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.serving import make_server

from hub.demo import tls
from providers import registry
from providers.base import ProviderSettings, Publisher, Target
from providers.linkedin.sandbox import create_sandbox as linkedin_sandbox
from providers.microsoft.sandbox import CONTOSO
from providers.microsoft.sandbox import create_sandbox as microsoft_sandbox
from providers.posting_sandbox import PostingFaults, issue_token
from providers.slack.sandbox import create_sandbox as slack_sandbox
from providers.teams.sandbox import create_sandbox as teams_sandbox
from providers.webhook.sandbox import create_sandbox as webhook_sandbox
from providers.x.sandbox import create_sandbox as x_sandbox

MS_CLIENT, MS_SECRET = "hub-yammer-app", "yammer-app-secret"
LINKEDIN_SUB, X_USER = "782bbtaQ", "1427384956271038465"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@dataclass
class Case:
    """One destination kind, wired to its sandbox."""

    publisher: Publisher
    target: Target
    faults: PostingFaults
    texts: Callable[[], list[str]]  # what people would see, in posting order


class PostingHosts:
    def __init__(self, url: str, tls_url: str, ca: Path, sandboxes: dict[str, Any]) -> None:
        self.url, self.tls_url, self.ca, self.sandboxes = url, tls_url, ca, sandboxes

    def base(self, kind: str) -> str:
        return f"{self.url}/sandbox/{kind}"

    def settings(self, kind: str, **changes: Any) -> ProviderSettings:
        """What the hub would configure for a destination kind, pointed at the sandboxes."""
        values: dict[str, Any] = {"name": kind, "client_id": "", "client_secret": "", "insecure_loopback": True}
        if kind in {"slack", "linkedin", "x"}:
            values["api_base"] = self.base(kind)
        if kind == "yammer":
            values |= {"client_id": MS_CLIENT, "client_secret": MS_SECRET, "ca_bundle": str(self.ca),
                       "auth_base": f"{self.tls_url}/sandbox/microsoft", "api_base": self.base("microsoft") + "/yammer",
                       "options": {"tenant": CONTOSO}}
        return ProviderSettings(**(values | changes))

    def publisher(self, kind: str, **changes: Any) -> Publisher:
        return registry.publisher(kind, self.settings(kind, **changes))

    def case(self, kind: str) -> Case:
        s = self.sandboxes
        if kind == "slack":
            target = Target("#wins", {"access_token": s["slack"].install_bot()})
            return Case(self.publisher(kind), target, s["slack"].posting_faults,
                        lambda: [m["text"] for m in s["slack"].channel_posts("wins")])
        if kind == "yammer":
            refresh = s["microsoft"].issue_refresh_token(MS_CLIENT, "contoso-megan")
            target = Target(YAMMER_GROUP, {"refresh_token": refresh})
            return Case(self.publisher(kind), target, s["microsoft"].yammer.posting_faults,
                        lambda: [m["body"]["plain"] for m in s["microsoft"].yammer.group_messages(YAMMER_GROUP)])
        if kind == "teams":
            target = Target(self.base("teams") + s["teams"].workflow_path(), {})
            return Case(self.publisher(kind), target, s["teams"].posting_faults, s["teams"].texts)
        if kind == "linkedin":
            token = issue_token(s["linkedin"], LINKEDIN_SUB, "openid profile w_member_social")
            target = Target("me", {"access_token": token}, account_id=LINKEDIN_SUB)
            return Case(self.publisher(kind), target, s["linkedin"].posting_faults,
                        lambda: [p["commentary"] for p in s["linkedin"].posts])
        if kind == "x":
            token = issue_token(s["x"], X_USER, "tweet.read tweet.write users.read offline.access")
            target = Target("me", {"access_token": token}, account_id=X_USER)
            return Case(self.publisher(kind), target, s["x"].posting_faults,
                        lambda: [t["text"] for t in s["x"].tweets])
        if kind == "webhook":
            target = Target(self.base("webhook") + s["webhook"].endpoint_path(WEBHOOK_SECRET),
                            {"secret": WEBHOOK_SECRET})
            return Case(self.publisher(kind), target, s["webhook"].posting_faults, s["webhook"].texts)
        raise KeyError(kind)


YAMMER_GROUP = "123456"


def posting_app() -> tuple[Flask, dict[str, Any]]:
    app = Flask("posting-sandboxes")
    sandboxes = {"slack": slack_sandbox(), "microsoft": microsoft_sandbox(), "linkedin": linkedin_sandbox(),
                 "x": x_sandbox(), "teams": teams_sandbox(), "webhook": webhook_sandbox()}
    for kind, sandbox in sandboxes.items():
        app.register_blueprint(sandbox.blueprint, url_prefix=f"/sandbox/{kind}")
    sandboxes["microsoft"].register_client(MS_CLIENT, MS_SECRET)
    return app, sandboxes


def served(tls_files: tls.TLSFiles) -> Iterator[PostingHosts]:
    """Fresh sandboxes on an HTTP port and an HTTPS port (msal wants an https authority), stopped on close."""
    app, sandboxes = posting_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    secure = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=(str(tls_files.cert), str(tls_files.key)))
    for each in (server, secure):  # a short poll interval keeps teardown quick
        threading.Thread(target=each.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield PostingHosts(f"http://127.0.0.1:{server.server_port}", f"https://127.0.0.1:{secure.server_port}",
                           tls_files.ca, sandboxes)
    finally:
        server.shutdown()
        secure.shutdown()
