"""providers/oauth.py's code exchange turns only the network's and the provider's failures into provider errors: a
bug of ours surfaces as itself, never as "could not be reached".

A token endpoint is served on loopback (werkzeug) and answers as the test asks; the bug is a compliance hook with a
mistake in it, the kind of per-provider quirk code (providers/facebook, providers/slack) that runs inside the call.
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from flask import Flask, Response, jsonify
from werkzeug.serving import make_server

from providers.base import Brand, LoginError, Profile, ProviderSettings, Transient
from providers.oauth import OAuth2Provider


@dataclass
class TokenEndpoint:
    url: str
    answer: Callable[[], Any]


@pytest.fixture
def endpoint() -> Iterator[TokenEndpoint]:
    app = Flask(__name__)
    served = TokenEndpoint(url="", answer=lambda: jsonify(access_token="at", token_type="Bearer"))

    @app.post("/token")
    def token() -> Any:
        return served.answer()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    served.url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served
    server.shutdown()


class Plain(OAuth2Provider):
    """A plain OAuth 2.0 provider (no OIDC) whose token endpoint is the test's."""

    kind = "plain"
    brand = Brand(label="Plain", background="#000", foreground="#fff")
    authorize_url = "https://plain.example/authorize"
    token_url = "https://plain.example/token"

    def profile(self, token: Any, saved: Any) -> Profile:
        return Profile(subject="1")


class Buggy(Plain):
    """A provider quirk hook with a bug in it: it reads a key the answer does not have."""

    hook_error: ClassVar[type[Exception]] = KeyError

    def session(self, redirect_uri: str) -> OAuth2Session:
        client = super().session(redirect_uri)
        client.register_compliance_hook("access_token_response", self._quirk)
        return client

    def _quirk(self, response: requests.Response) -> requests.Response:
        if self.hook_error is KeyError:
            response.json()["team"]  # the bug: no such key
        raise self.hook_error("a bug of ours")


def provider(cls: type[Plain], base: str) -> Plain:
    return cls(ProviderSettings(name="plain", client_id="hub", client_secret="s", auth_base=base, api_base=base,
                                insecure_loopback=True))


def exchange(instance: Plain) -> dict[str, Any]:
    return instance.exchange_code("the-code", {"code_verifier": "v" * 43}, "https://hub.example/auth/plain/callback")


def test_the_code_is_exchanged(endpoint: TokenEndpoint) -> None:
    assert exchange(provider(Plain, endpoint.url))["access_token"] == "at"


@pytest.mark.parametrize("error", [KeyError, AttributeError, TypeError])
def test_a_bug_of_ours_surfaces_as_itself(endpoint: TokenEndpoint, error: type[Exception]) -> None:
    buggy = type("Buggy", (Buggy,), {"hook_error": error})
    with pytest.raises(error):
        exchange(provider(buggy, endpoint.url))


def test_no_answer_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with pytest.raises(Transient, match="could not be reached"):
        exchange(provider(Plain, closed))


def test_a_gateway_page_and_a_body_that_is_no_token_are_transient(endpoint: TokenEndpoint) -> None:
    endpoint.answer = lambda: Response("<html>Bad gateway</html>", status=502, mimetype="text/html")
    with pytest.raises(Transient, match=r"failed to finish the sign-in \(502\)"):
        exchange(provider(Plain, endpoint.url))
    endpoint.answer = lambda: Response("<html>Welcome</html>", status=200, mimetype="text/html")
    with pytest.raises(Transient, match="not a token"):
        exchange(provider(Plain, endpoint.url))


def test_a_refused_code_is_a_login_error(endpoint: TokenEndpoint) -> None:
    endpoint.answer = lambda: (jsonify(error="invalid_grant"), 400)
    with pytest.raises(LoginError, match="refused the sign-in code") as refused:
        exchange(provider(Plain, endpoint.url))
    assert refused.value.code == "token_refused"
