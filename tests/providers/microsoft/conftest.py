"""HTTPS for the Microsoft sandbox: msal refuses http:// authorities.

The session-wide local CA and server certificate (`tls_files`), the second, TLS server in front of the same app as
`live` (`tls_url`) and `add_microsoft` come from tests/conftest.py; here the hub is told to trust that CA
(HUB_CA_BUNDLE), so https://127.0.0.1:<port>/sandbox/microsoft/... is the sandbox the provider talks to.
"""
from __future__ import annotations

import pytest

from hub.demo import tls


@pytest.fixture
def hub_env(hub_env: dict[str, str], tls_files: tls.TLSFiles) -> dict[str, str]:
    """The shared settings plus the sandbox CA, which the hub (and tests.live.Browser) trusts."""
    return {**hub_env, "HUB_CA_BUNDLE": str(tls_files.ca)}
