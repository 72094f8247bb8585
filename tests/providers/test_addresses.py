"""Provider calls reach only public addresses (providers.addresses, providers.base.GuardedAdapter), unless
HUB_INSECURE_LOOPBACK opens loopback or HUB_PROVIDER_ALLOW_HOSTS names the host (or host:port).

A stand-in OpenID Provider is served over real HTTPS on loopback (hub.demo.tls), so the same code that talks to an
on-premises provider talks to it. Private addresses that nothing serves here (10.0.0.5, 169.254.169.254) are
refused before any connection is tried, so those tests need no network.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, jsonify, redirect, request
from werkzeug.serving import BaseWSGIServer

from hub.demo import tls
from providers.base import Post, ProviderSettings, RefusedAddress, Target, Transient
from providers.microsoft import Microsoft
from providers.oidc import GenericOIDC
from providers.slack.publish import SlackPublisher
from providers.webhook.publish import WebhookPublisher
from providers.x import api as x_api

POST = Post(text="Ada finished the course", link=None, title=None, image_url=None, marker="m-1")


@dataclass
class Idp:
    """A stand-in OpenID Provider over HTTPS: discovery, an empty JWKS and a redirect, counting what it was asked."""

    server: BaseWSGIServer
    discovery: dict[str, Any]
    ca: str
    seen: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def issuer(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _serve(tls_files: tls.TLSFiles) -> Idp:
    app = Flask(__name__)
    idp = Idp(server=None, discovery={}, ca=str(tls_files.ca))  # type: ignore[arg-type]

    @app.before_request
    def count() -> None:
        idp.seen.append(request.path)

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Any:
        return jsonify(idp.discovery)

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify(keys=[])

    @app.get("/hop")
    def hop() -> Any:
        return redirect(request.args["to"], 302)

    idp.server = tls.serve_tls(app, "127.0.0.1", 0, tls_files.cert, tls_files.key)
    idp.discovery.update(issuer=idp.issuer, jwks_uri=f"{idp.issuer}/jwks", token_endpoint=f"{idp.issuer}/token",
                         authorization_endpoint=f"{idp.issuer}/authorize")
    return idp


@pytest.fixture
def idp(tls_files: tls.TLSFiles) -> Iterator[Idp]:
    served = _serve(tls_files)
    yield served
    served.server.shutdown()


@pytest.fixture
def other_idp(tls_files: tls.TLSFiles) -> Iterator[Idp]:
    """A second server on another port of the same host."""
    served = _serve(tls_files)
    yield served
    served.server.shutdown()


def oidc(idp: Idp, **settings: Any) -> GenericOIDC:
    return GenericOIDC(ProviderSettings(name="corp", client_id="hub", client_secret="s", issuer=idp.issuer,
                                        ca_bundle=idp.ca, **settings))


def test_a_provider_on_a_private_address_is_refused_before_connecting(idp: Idp) -> None:
    with pytest.raises(RefusedAddress) as refused:
        oidc(idp).metadata()
    assert "127.0.0.1 is a loopback address" in str(refused.value)
    assert f"HUB_PROVIDER_ALLOW_HOSTS names the server, as 127.0.0.1:{idp.port}" in str(refused.value)
    assert idp.seen == []  # refused on the resolved address: no connection was made


@pytest.mark.parametrize("settings", [
    {"insecure_loopback": True},  # HUB_INSECURE_LOOPBACK: the demo's and the tests' sandboxes
    {"provider_allow_hosts": frozenset({"127.0.0.1"})},  # a bare host: the issuer's port
    {"provider_allow_hosts": frozenset({"127.0.0.1:{port}"})},
], ids=["insecure-loopback", "bare-host", "host-port"])
def test_a_provider_the_settings_allow_is_called(idp: Idp, settings: dict[str, Any]) -> None:
    if "provider_allow_hosts" in settings:
        allowed = frozenset(host.format(port=idp.port) for host in settings["provider_allow_hosts"])
        settings = {"provider_allow_hosts": allowed}
    provider = oidc(idp, **settings)
    assert provider.metadata()["issuer"] == idp.issuer
    assert provider.request_json("GET", f"{idp.issuer}/jwks") == {"keys": []}
    assert idp.seen == ["/.well-known/openid-configuration", "/jwks"]


def test_an_allowed_entry_for_another_port_does_not_open_this_one(idp: Idp) -> None:
    with pytest.raises(RefusedAddress):
        oidc(idp, provider_allow_hosts=frozenset({"127.0.0.1:1"})).metadata()
    with pytest.raises(RefusedAddress):  # a host name and its address are different entries
        oidc(idp, provider_allow_hosts=frozenset({"localhost"})).metadata()
    assert idp.seen == []


def test_a_redirect_to_another_port_of_a_bare_allowed_host_is_refused(idp: Idp, other_idp: Idp) -> None:
    hop = f"{idp.issuer}/hop?to={other_idp.issuer}/jwks"
    provider = oidc(idp, provider_allow_hosts=frozenset({"127.0.0.1"}))
    with pytest.raises(RefusedAddress, match=f"as 127.0.0.1:{other_idp.port}"):
        provider.request_json("GET", hop)
    assert idp.seen == ["/hop"] and other_idp.seen == []
    # Naming the other port too lets the redirect through.
    allowed = oidc(idp, provider_allow_hosts=frozenset({"127.0.0.1", f"127.0.0.1:{other_idp.port}"}))
    assert allowed.request_json("GET", hop) == {"keys": []}
    assert other_idp.seen == ["/jwks"]


def test_endpoints_named_by_discovery_are_checked_too(idp: Idp) -> None:
    """HUB_INSECURE_LOOPBACK opens loopback only: a token endpoint or JWKS on a private address is still refused."""
    idp.discovery.update(jwks_uri="https://169.254.169.254/jwks", token_endpoint="https://10.0.0.5/token")
    provider = oidc(idp, insecure_loopback=True)
    assert provider.metadata()["issuer"] == idp.issuer
    with pytest.raises(RefusedAddress, match="169.254.169.254 is a link-local address"):
        provider.keys.candidates(None)
    with pytest.raises(RefusedAddress, match="10.0.0.5 is a private address"):
        provider.exchange_code("a-code", {"code_verifier": None}, "https://hub.example.edu/auth/corp/callback")


PRIVATE = "https://10.0.0.5"


def _x_read() -> Any:
    settings = ProviderSettings(name="x", client_id="", client_secret="", api_base=PRIVATE)
    return x_api.call(settings, True, {"access_token": "t"}, lambda client: client.get_me(user_auth=False),
                      refused="read", limited="X rate limit")


def _msal_sign_in() -> Any:
    settings = ProviderSettings(name="microsoft", client_id="c", client_secret="s", auth_base=PRIVATE,
                                options={"tenant": "common"})
    return Microsoft(settings).client()


def _slack_post() -> Any:
    publisher = SlackPublisher(ProviderSettings(name="slack", client_id="", client_secret="", api_base=PRIVATE))
    return publisher.publish(Target(address="#wins", tokens={"access_token": "xoxb-1"}), POST)


def _token_refresh() -> Any:
    publisher = WebhookPublisher(ProviderSettings(name="webhook", client_id="c", client_secret="s"))
    return publisher.redeem_refresh_token(f"{PRIVATE}/token", "client_secret_basic", {"refresh_token": "r"}, "Test")


def _webhook_post() -> Any:
    publisher = WebhookPublisher(ProviderSettings(name="webhook", client_id="", client_secret=""))
    return publisher.publish(Target(address=f"{PRIVATE}/hook", tokens={"secret": "whsec_c2VjcmV0"}), POST)


@pytest.mark.parametrize("call", [_x_read, _msal_sign_in, _slack_post, _token_refresh, _webhook_post],
                         ids=["tweepy", "msal", "slack_sdk", "authlib-refresh", "webhook"])
def test_every_sdk_path_refuses_a_private_address(call: Any) -> None:
    """tweepy, msal and authlib talk through guarded sessions; slack_sdk (urllib) is checked before it is called."""
    with pytest.raises(RefusedAddress, match="10.0.0.5 is a private address"):
        call()


def test_a_name_that_does_not_resolve_is_transient_for_an_sdk() -> None:
    publisher = SlackPublisher(ProviderSettings(name="slack", client_id="", client_secret="",
                                                api_base="https://no-such-host.invalid"))
    with pytest.raises(Transient, match="does not resolve"):
        publisher.publish(Target(address="#wins", tokens={"access_token": "xoxb-1"}), POST)
