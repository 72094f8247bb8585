"""scim2-tester, an independent SCIM conformance checker, against /scim/v2 over real HTTP: no failures."""
from __future__ import annotations

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import check_server
from scim2_tester.utils import Status

from tests.live import LiveHub

FAILING = {Status.ERROR, Status.CRITICAL}


def test_scim2_tester_finds_no_failures(live: LiveHub, scim_token: str) -> None:
    http = httpx2.Client(base_url=f"{live.url}/scim/v2", headers={"Authorization": f"Bearer {scim_token}"},
                         trust_env=False)
    results = check_server(SyncSCIMClient(http))
    failures = [f"{r.resource_type or ''} {r.title}: {r.reason}" for r in results if r.status in FAILING]
    passed = [r for r in results if r.status == Status.SUCCESS]
    assert not failures, "\n".join(failures)
    assert len(passed) > 20  # the checks really ran: discovery, CRUD on Users and Groups, patch
