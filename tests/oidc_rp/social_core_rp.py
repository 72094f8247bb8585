"""python-social-auth's OpenID Connect backend (social-core's OpenIdConnectAuth, what Open edX's third_party_auth
signs in with) as a relying party for the hub's IdP tests, one JSON command per line, one answer per line.

It runs in a process of its own so one test run can drive two social-core versions: the newest (the virtualenv's)
and the one Open edX pins (requirements/social-core-openedx.txt, installed into .venv-social-core-openedx, put
first on PYTHONPATH by tests/idp/conftest.py).

social-core does the OpenID Connect work: discovery, the authorization URL (state, nonce), the code exchange, the
ID token's checks (signature against the JWKS, iss, aud, azp, exp, iat, nonce, at_hash), userinfo, the details and
uid it hands to its pipeline, and refresh. What a web framework would provide (settings, the session, the request,
storage for its nonces) is the small in-memory strategy below; `authenticate` returns what the pipeline would be
given instead of making a user, since Open edX's user creation is not what is under test.

Commands (each answers {"ok": true, ...} or {"ok": false, "error": exception name, "message"}):
  {"cmd": "configure", "issuer", "client_id", "client_secret", "redirect_uri"} -> {"version"}
  {"cmd": "authorize_url"}                     -> {"url"}
  {"cmd": "callback", "url"}                   -> {"details", "uid", "id_token", "access_token", "refresh_token"}
  {"cmd": "refresh", "refresh_token"}          -> {"access_token", "refresh_token", "id_token"}
  {"cmd": "end_session_endpoint"}              -> {"url"}: from the discovery document social-core read
"""
from __future__ import annotations

import itertools
import json
import sys
import time
from importlib.metadata import version
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from social_core.backends.open_id_connect import OpenIdConnectAuth
from social_core.storage import AssociationMixin, BaseStorage, NonceMixin
from social_core.strategy import BaseStrategy

_ids = itertools.count(1)


class Association(AssociationMixin):
    """An OpenID Connect nonce as social-core stores it (an association keyed by its handle)."""

    records: list[Association] = []

    def __init__(self, server_url: str, handle: str, issued: int, lifetime: int, assoc_type: str) -> None:
        self.id, self.server_url, self.handle = next(_ids), server_url, handle
        self.secret, self.issued, self.lifetime, self.assoc_type = "", issued, lifetime, assoc_type

    def is_expired(self, now: int | None = None) -> bool:  # 4.x's mixin lacks it; 7.x's reads the same fields
        return (now or int(time.time())) >= self.issued + self.lifetime

    @classmethod
    def store(cls, server_url: str, association: Any) -> None:
        cls.records.append(cls(server_url, association.handle, int(association.issued), int(association.lifetime),
                               association.assoc_type or ""))

    @classmethod
    def get(cls, server_url: str | None = None, handle: str | None = None) -> list[Association]:
        return [r for r in cls.records if server_url in (None, r.server_url) and handle in (None, r.handle)]

    @classmethod
    def remove(cls, ids_to_delete: list[int]) -> None:
        cls.records = [r for r in cls.records if r.id not in ids_to_delete]


class Nonce(NonceMixin):
    """One-use state values (social-core 5+ spends each state once)."""

    used: set[tuple[str, int, str]] = set()

    @classmethod
    def use(cls, server_url: str, timestamp: int, salt: str) -> bool:
        cls.used.add((server_url, int(timestamp), salt))
        return True

    @classmethod
    def consume(cls, server_url: str, timestamp: int, salt: str) -> bool:
        key = (server_url, int(timestamp), salt)
        if key not in cls.used:
            return False
        cls.used.discard(key)
        return True


class Storage(BaseStorage):
    association = Association
    nonce = Nonce


class Strategy(BaseStrategy):
    """One browser's session and the request being handled; settings as Open edX's provider config sets them."""

    def __init__(self, settings: dict[str, Any]) -> None:
        super().__init__(Storage)
        self.settings, self.session, self.data = settings, {}, {}

    def get_setting(self, name: str) -> Any:
        return self.settings[name]

    def request_data(self, merge: bool = True) -> dict[str, Any]:
        return dict(self.data)

    def get_request_data(self, merge: bool = True) -> dict[str, Any]:
        return dict(self.data)

    def request_host(self) -> str:
        return "lms.example.edu"

    def redirect(self, url: str) -> str:
        return url

    def html(self, content: str) -> str:
        return content

    def session_get(self, name: str, default: Any = None) -> Any:
        return self.session.get(name, default)

    def session_set(self, name: str, value: Any) -> None:
        self.session[name] = value

    def session_pop(self, name: str) -> Any:
        return self.session.pop(name, None)

    def build_absolute_uri(self, path: str | None = None) -> str:
        return path or ""

    def authenticate(self, backend: Any = None, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """What social-core's pipeline starts from: the backend's details and uid for this response."""
        backend = backend or kwargs["backend"]
        response = kwargs["response"]
        details = backend.get_user_details(response)
        return {"details": details, "uid": backend.get_user_id(details, response), "response": response}


class Rp:
    def __init__(self) -> None:
        self.strategy: Strategy | None = None
        self.redirect_uri = ""

    def backend(self) -> OpenIdConnectAuth:
        """A fresh backend per request, as social-auth-app-django makes one."""
        assert self.strategy is not None, "configure first"
        return OpenIdConnectAuth(self.strategy, redirect_uri=self.redirect_uri)

    def configure(self, m: dict[str, Any]) -> dict[str, Any]:
        self.redirect_uri = m["redirect_uri"]
        self.strategy = Strategy({"SOCIAL_AUTH_OIDC_OIDC_ENDPOINT": m["issuer"], "SOCIAL_AUTH_OIDC_KEY": m["client_id"],
                                  "SOCIAL_AUTH_OIDC_SECRET": m["client_secret"]})
        return {"version": version("social-auth-core")}

    def authorize_url(self, m: dict[str, Any]) -> dict[str, Any]:
        assert self.strategy is not None
        self.strategy.data = {}
        return {"url": self.backend().auth_url()}

    def callback(self, m: dict[str, Any]) -> dict[str, Any]:
        assert self.strategy is not None
        self.strategy.data = dict(parse_qsl(urlsplit(m["url"]).query))
        done = self.backend().auth_complete()
        response = done["response"]
        return {"details": done["details"], "uid": done["uid"], "id_token": response.get("id_token"),
                "access_token": response.get("access_token"), "refresh_token": response.get("refresh_token"),
                "userinfo_sub": response.get("sub")}

    def refresh(self, m: dict[str, Any]) -> dict[str, Any]:
        answer = self.backend().refresh_token(m["refresh_token"])
        return {"access_token": answer.get("access_token"), "refresh_token": answer.get("refresh_token"),
                "id_token": answer.get("id_token")}

    def end_session_endpoint(self, m: dict[str, Any]) -> dict[str, Any]:
        return {"url": self.backend().oidc_config().get("end_session_endpoint")}


def main() -> None:
    rp = Rp()
    commands = {"configure": rp.configure, "authorize_url": rp.authorize_url, "callback": rp.callback,
                "refresh": rp.refresh, "end_session_endpoint": rp.end_session_endpoint}
    for line in sys.stdin:
        message = json.loads(line)
        try:
            answer = {"ok": True, **commands[message["cmd"]](message)}
        except Exception as exc:  # noqa: BLE001  (every failure is an answer the test reads)
            answer = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
