"""tweepy's calls trust HUB_CA_BUNDLE even where the environment names another CA file (REQUESTS_CA_BUNDLE).

`hub demo --https` serves the X sandbox over HTTPS with the demo's CA; on a machine that sets REQUESTS_CA_BUNDLE
(Debian's, many CI images) requests let it replace the session's verify, and every X tile failed with SSLError.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests

from hub.demo import tls
from providers.base import ProviderSettings
from providers.x import api


def _me(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """A stand-in for X's GET /2/users/me: enough for tweepy's get_me()."""
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"data": {"id": "1", "name": "Ada Lovelace", "username": "ada_codes"},
                        "path": environ["PATH_INFO"]}).encode()]


def test_tweepy_trusts_the_hubs_ca_bundle_over_requests_ca_bundle(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key, ca = tls.ensure_dev_certificate(tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())  # public CAs only: the demo's CA is not among them
    server = tls.serve_tls(_me, "127.0.0.1", 0, cert, key)
    try:
        settings = ProviderSettings(name="x", client_id="", client_secret="", insecure_loopback=True,
                                    api_base=f"https://127.0.0.1:{server.server_port}", ca_bundle=str(ca))
        me = api.call(settings, str(ca), {"access_token": "token"}, lambda client: client.get_me(user_auth=False),
                      refused="read", limited="X is rate limiting")
        assert me.data.username == "ada_codes"
        # The same call trusting the public CAs only fails: so the CA file above is what made it work.
        client = api.client("token", settings, certifi.where())
        with pytest.raises(requests.exceptions.SSLError):
            client.get_me(user_auth=False)
        client.session.close()
    finally:
        server.shutdown()
