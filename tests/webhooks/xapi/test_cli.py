"""`hub source add NAME --xapi`: credentials printed once, stored hashed, and accepted by /xapi."""
from __future__ import annotations

import base64
import json
import re

import requests
from click.testing import CliRunner
from sqlalchemy import select

from hub.cli import main
from hub.models import Event, Source
from tests.live import LiveHub
from tests.webhooks.xapi.helpers import openedx


def test_source_add_xapi_prints_credentials_that_work(live: LiveHub) -> None:
    result = CliRunner().invoke(main, ["source", "add", "edx", "--all-orgs", "--xapi"], env=live.env)
    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"^xapi (key|secret|bearer): (\S+)$", result.output, re.MULTILINE))
    assert set(printed) == {"key", "secret", "bearer"}
    with live.context() as session:
        source = session.scalar(select(Source).where(Source.name == "edx"))
        assert source is not None and source.xapi_key == printed["key"]
        stored = f"{source.xapi_key} {source.xapi_secret_hash} {source.xapi_bearer_hash}"
    assert printed["secret"] not in stored and printed["bearer"] not in stored  # hashes only
    http = requests.Session()
    http.trust_env = False
    basic = base64.b64encode(f"{printed['key']}:{printed['secret']}".encode()).decode()
    for auth in (f"Basic {basic}", f"Bearer {printed['bearer']}"):
        answer = http.post(f"{live.url}/xapi/statements", data=json.dumps([openedx("passed")]),
                           headers={"Authorization": auth, "X-Experience-API-Version": "1.0.3"})
        assert answer.status_code == 200, answer.text
    with live.context() as session:
        assert len(session.scalars(select(Event)).all()) == 1  # the second post was the same statement


def test_source_add_without_xapi_has_no_xapi_credentials(live: LiveHub) -> None:
    result = CliRunner().invoke(main, ["source", "add", "hooks-only", "--all-orgs"], env=live.env)
    assert result.exit_code == 0, result.output
    assert "xapi" not in result.output.replace("xapi/", "")
    with live.context() as session:
        source = session.scalar(select(Source).where(Source.name == "hooks-only"))
        assert source is not None and source.xapi_key is None and source.xapi_bearer_hash is None
