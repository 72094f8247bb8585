"""SCIM fixtures: the live hub (real HTTP on loopback) and a scim-scoped token made the way `hub token` makes it."""
from __future__ import annotations

from typing import Any

import pytest
import requests

from hub import tokens
from tests.live import LiveHub

HOME_PAGE = "https://lms.example.edu"


@pytest.fixture
def scim_token(live: LiveHub) -> str:
    with live.context() as session:
        created = tokens.create(session, scope="scim", name="lms", home_page=HOME_PAGE, all_orgs=True)
        session.commit()
    return created.secret


class Scim:
    """A requests session speaking SCIM to the live hub."""

    def __init__(self, hub: LiveHub, secret: str | None) -> None:
        self.hub = hub
        self.http = requests.Session()
        self.http.trust_env = False
        if secret:
            self.http.headers["Authorization"] = f"Bearer {secret}"
        self.http.headers["Content-Type"] = "application/scim+json"

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.http.request(method, f"{self.hub.url}/scim/v2{path}", **kwargs)


@pytest.fixture
def scim(live: LiveHub, scim_token: str) -> Scim:
    return Scim(live, scim_token)


def new_user(scim: Scim, email: str, external_id: str | None = None, **extra: Any) -> dict[str, Any]:
    body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": email,
            "name": {"givenName": "Ada", "familyName": "Lovelace"}, "emails": [{"value": email, "primary": True}],
            **({"externalId": external_id} if external_id else {}), **extra}
    answer = scim("POST", "/Users", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()
