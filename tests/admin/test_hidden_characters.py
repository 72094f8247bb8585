"""The admin forms refuse names with control or text-direction characters beside their field (hub.names), keep
what was typed, and store nothing. Tile titles: tests/tiles/test_admin_hostile.py."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from hub.models import ClaimMapping, Organisation, ProviderConfig
from tests.live import Browser, LiveHub, csrf_token

MESSAGE = "must not contain control or text-direction characters (U+202E at character"


def error_of(page: str, field_id: str) -> str:
    found = re.search(rf'id="{field_id}-error">([^<]*)<', page)
    assert found, page
    return found.group(1)


def count(hub: LiveHub, model: type) -> int:
    with hub.context() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_organisation_name_with_an_override_is_refused_beside_the_name(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/orgs").text)
    answer = admin.post("/admin/orgs", data={"csrf_token": token, "name": "Evil\u202eCorp", "policy": "open",
                                             "domains": "", "provider": ""})
    assert answer.status_code == 400
    assert error_of(answer.text, "org-name").startswith("The name " + MESSAGE)
    assert count(hub, Organisation) == 0


def test_a_mapping_group_with_an_override_is_refused_beside_the_group(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/orgs").text)
    answer = admin.post("/admin/mappings", data={"csrf_token": token, "provider": "google", "claim": "hd",
                                                 "value": "partner.example", "org": "", "group": "staff\u202e"})
    assert answer.status_code == 400
    assert error_of(answer.text, "map-group").startswith("The group " + MESSAGE)
    assert 'value="partner.example"' in answer.text  # what was typed is kept
    assert count(hub, ClaimMapping) == 0


def test_a_provider_label_with_an_override_is_refused_beside_the_options(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/providers").text)
    answer = admin.post("/admin/providers", data={
        "csrf_token": token, "name": "partner", "kind": "oidc", "client_id": "c", "client_secret": "s",
        "issuer": f"{hub.url}/sandbox/oidc", "options": "label=Partner \u202eOSS"})
    assert answer.status_code == 400
    assert error_of(answer.text, "f-options").startswith("Options: label " + MESSAGE)
    with hub.context() as session:
        assert session.scalar(select(ProviderConfig).where(ProviderConfig.name == "partner")) is None
