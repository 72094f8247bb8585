"""Any OpenID Provider, configured by its issuer URL alone (OpenID Connect Discovery 1.0)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import Brand, Permanent
from providers.oauth import OIDCProvider


class GenericOIDC(OIDCProvider):
    kind = "oidc"
    issuer_url = ""  # there is no production default: the admin's --issuer is the provider
    id_token_algs = ("RS256", "PS256", "ES256", "EdDSA")

    requires_issuer = True
    brand = Brand("OpenID Connect", background="#3d4a5c", foreground="#ffffff")

    @classmethod
    def brand_for(cls, name: str, options: Mapping[str, Any]) -> Brand:
        label = options.get("label") or ("OpenID Connect" if name == cls.kind else name.replace("-", " ").title())
        return Brand(label, background="#3d4a5c", foreground="#ffffff")

    def issuer(self) -> str:
        if not self.settings.issuer:  # the hub refuses to store one without (provider_store); said here too
            raise Permanent(self.name, "a generic OpenID Connect provider needs its issuer URL (--issuer)")
        return self.settings.issuer.rstrip("/")

    def issuer_values(self, _claimed: str | None = None) -> set[str]:
        # Admins type issuers with or without the trailing "/" (Auth0's has one, Keycloak's has not).
        # Discovery may match either spelling; from then on its own value is the only one accepted,
        # exactly, in ID tokens and in RFC 9207 `iss`.
        if self._metadata is not None:
            return {self._metadata["issuer"]}
        return {self.issuer(), self.issuer() + "/"}

    @property  # read from discovery: a property where the base declares a class attribute
    def token_auth_method(self) -> str:  # type: ignore[override]
        supported = self.metadata().get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
        return "client_secret_basic" if "client_secret_basic" in supported else "client_secret_post"

    @property  # read from discovery: a property where the base declares a class attribute
    def pkce(self) -> bool:  # type: ignore[override]
        # Only when advertised (RFC 9700 2.1.1 asks servers to publish it): some servers refuse
        # unknown parameters (LinkedIn web apps reject PKCE); the nonce still binds the code then.
        return "S256" in self.metadata().get("code_challenge_methods_supported", [])

    @property  # read from discovery: a property where the base declares a class attribute
    def use_userinfo(self) -> bool:  # type: ignore[override]
        return bool(self.metadata().get("userinfo_endpoint"))
