"""The admin providers page refuses provider URLs on private addresses, beside the field, naming the setting."""
from __future__ import annotations

import re

from sqlalchemy import select

from hub.models import ProviderConfig
from tests.live import Browser, LiveHub, csrf_token


def test_a_private_issuer_is_refused_beside_its_field(hub: LiveHub, admin: Browser) -> None:
    token = csrf_token(admin.get("/admin/providers").text)
    form = {"csrf_token": token, "name": "onprem", "kind": "oidc", "client_id": "hub", "client_secret": "s3cret",
            "profile_sync": "always"}
    for field, url, reason in (("issuer", "https://169.254.169.254/", "169.254.169.254 is a link-local address"),
                               ("api_base", "https://10.0.0.5:8443", "10.0.0.5 is a private address"),
                               ("auth_base", "https://100.64.0.1", "100.64.0.1 is in 100.64.0.0/10")):
        answer = admin.post("/admin/providers", data={"issuer": "https://idp.example.com", **form, field: url})
        assert answer.status_code == 400
        error = re.search(rf'id="f-{field}-error">([^<]*)<', answer.text)
        assert error is not None, answer.text
        assert reason in error.group(1) and "HUB_PROVIDER_ALLOW_HOSTS" in error.group(1)
    with hub.context() as session:
        assert session.scalar(select(ProviderConfig).where(ProviderConfig.name == "onprem")) is None
