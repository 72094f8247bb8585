"""A hub served on loopback, with helpers that act like a browser and an admin."""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import requests
from flask import Flask
from sqlalchemy import delete

from hub import db, provider_store
from hub.models import Base


class LiveHub:
    def __init__(self, app: Flask, url: str, env: dict[str, str]) -> None:
        self.app, self.url, self.env = app, url, env

    @property
    def sandboxes(self) -> dict[str, Any]:
        return self.app.extensions["sandboxes"]

    @contextmanager
    def context(self) -> Iterator[Any]:
        """An app context with a database session (closed on exit)."""
        with self.app.app_context():
            yield db.session()

    def add_provider(self, name: str, kind: str | None = None, *, issuer: str | None = None,
                     api_base: str | None = None, auth_base: str | None = None, register: bool = True,
                     secret: str = "sandbox-secret", **options: Any) -> str:
        """Configure provider `name` against its sandbox (registered there as a client); returns client_id."""
        kind = kind or name
        client_id = f"client-{name}"
        sandbox = self.sandboxes.get(kind)
        if register and sandbox is not None:
            sandbox.register_client(client_id, secret, [f"{self.url}/auth/{name}/callback"])
        base = f"{self.url}/sandbox/{kind}"
        defaults = sandbox_overrides(kind, base) if sandbox is not None else {}
        hidden = options.pop("hidden", False)
        profile_sync = options.pop("profile_sync", "always")
        with self.context() as session:
            provider_store.add_provider(
                session, self.app.extensions["vault"], name=name, kind=kind, client_id=client_id,
                client_secret=secret, issuer=issuer or defaults.get("issuer"),
                api_base=api_base or defaults.get("api_base"), auth_base=auth_base or defaults.get("auth_base"),
                options=options, hidden=hidden, profile_sync=profile_sync, insecure_loopback=True)
            session.commit()
        return client_id

    def clean(self) -> None:
        with self.app.app_context():
            session = db.session()
            for table in reversed(Base.metadata.sorted_tables):
                session.execute(delete(table))
            session.commit()
            from hub import redis_conn

            redis_conn.get().flushdb()
        self.app.extensions["db_engine"].dispose()


def sandbox_overrides(kind: str, base: str) -> dict[str, str]:
    """The URL overrides that point a provider kind at its sandbox (the demo uses the same)."""
    from providers import registry

    return registry.provider_class(kind).sandbox_overrides(base)


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "form":
            self.forms.append({"action": values.get("action"), "fields": {}})
        elif tag == "input" and self.forms and values.get("name"):
            if values.get("type") == "radio" and "checked" not in values:
                return
            self.forms[-1]["fields"][values["name"]] = values.get("value") or ""


def forms(html: str) -> list[dict[str, Any]]:
    parser = _Forms()
    parser.feed(html)
    return parser.forms


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "page has no CSRF token"
    return match.group(1)


class Browser:
    """A requests session that signs in through a sandbox's picker, like a person would."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        self.http = requests.Session()
        self.http.verify = hub.env.get("HUB_CA_BUNDLE", True)
        self.http.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify (psf/requests#3829)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.get(self._url(path), allow_redirects=kwargs.pop("allow_redirects", False), **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self._url(path), allow_redirects=kwargs.pop("allow_redirects", False), **kwargs)

    def _url(self, path: str) -> str:
        return path if path.startswith("http") else self.hub.url + path

    def start_login(self, provider: str, **params: str) -> requests.Response:
        """GET /login/<provider>; returns the redirect to the provider."""
        response = self.get(f"/login/{provider}", params=params)
        assert response.status_code == 302, response.text
        return response

    def pick_user(self, authorize_url: str, user: str | None = None, decision: str = "allow") -> str:
        """At the sandbox's authorize page, choose a user; returns the callback URL it redirects to."""
        page = self.http.get(authorize_url)
        assert page.status_code == 200, page.text
        form = forms(page.text)[0]
        fields = dict(form["fields"])
        if user is not None:
            fields["user"] = user
        fields["decision"] = decision
        answer = self.http.post(page.url, data=fields, allow_redirects=False)
        assert answer.status_code in (302, 303), answer.text
        return answer.headers["Location"]

    def sign_in(self, provider: str, user: str | None = None, **params: str) -> requests.Response:
        """The whole flow; returns the hub's answer to the callback (not followed)."""
        start = self.start_login(provider, **params)
        callback = self.pick_user(start.headers["Location"], user)
        return self.http.get(callback, allow_redirects=False)
