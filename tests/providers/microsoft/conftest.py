"""HTTPS for the Microsoft sandbox: msal refuses http:// authorities.

A session-wide local CA and server certificate (hub.demo.tls), the hub told to trust that CA
(HUB_CA_BUNDLE), and a second, TLS server in front of the same app as `live`, so
https://127.0.0.1:<port>/sandbox/microsoft/... is the sandbox the provider talks to.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hub.demo import tls
from providers.microsoft import Microsoft
from tests.live import LiveHub


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tls.TLSFiles:
    return tls.ensure_dev_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """The shared settings plus the sandbox CA, which the hub (and tests.live.Browser) trusts."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca)}


@pytest.fixture
def tls_url(live: LiveHub, tls_files: tls.TLSFiles) -> Iterator[str]:
    """The same app as `live`, also served over HTTPS on another loopback port."""
    server = tls.serve_tls(live.app, "127.0.0.1", 0, tls_files.cert, tls_files.key)
    try:
        yield f"https://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


@pytest.fixture
def add_microsoft(live: LiveHub, tls_url: str) -> Callable[..., str]:
    """Configure provider `microsoft` against the HTTPS sandbox; options as for `hub provider add --option`."""
    def add(name: str = "microsoft", **options: Any) -> str:
        overrides = Microsoft.sandbox_overrides(f"{tls_url}/sandbox/microsoft")
        return live.add_provider(name, "microsoft", **overrides, **options)
    return add
