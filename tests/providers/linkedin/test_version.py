"""LinkedIn sunsets each LinkedIn-Version about a year after it ships: the hub's must never get that old."""
from __future__ import annotations

from datetime import UTC, date, datetime

import requests

from providers.linkedin.publish import LINKEDIN_VERSION, VERSION_WARN_MONTHS, version_age_months
from providers.posting_sandbox import issue_token
from tests.providers.posting import LINKEDIN_SUB, PostingHosts


def test_the_linkedin_version_is_bumped_before_linkedin_sunsets_it() -> None:
    """By the real date, not a frozen one: this test starts failing a month before LinkedIn would answer 426."""
    today = datetime.now(UTC).date()
    age = version_age_months(LINKEDIN_VERSION, today)
    assert age >= 0, f"LINKEDIN_VERSION {LINKEDIN_VERSION} is from the future ({today:%Y%m})"
    assert age <= VERSION_WARN_MONTHS, (
        f"LINKEDIN_VERSION {LINKEDIN_VERSION} is {age} months old; LinkedIn sunsets versions after a year: move it "
        "to a recent YYYYMM in providers/linkedin/publish.py (check https://learn.microsoft.com/linkedin/marketing/"
        "versioning) and run tests/providers/linkedin")


def test_version_age_counts_months_across_years() -> None:
    assert version_age_months("202611", date(2026, 12, 7)) == 1
    assert version_age_months("202512", date(2026, 12, 1)) == 12
    assert version_age_months("202701", date(2026, 12, 31)) == -1


def test_the_sandbox_refuses_a_sunset_version(hosts: PostingHosts) -> None:
    """A year-old version is gone at LinkedIn, so the sandbox answers 426 as LinkedIn does; the hub's passes."""
    sandbox = hosts.sandboxes["linkedin"]
    sandbox.today = lambda: date(2026, 12, 7)
    token = issue_token(sandbox, LINKEDIN_SUB, "openid profile w_member_social")
    headers = {"X-Restli-Protocol-Version": "2.0.0", "Authorization": f"Bearer {token}"}
    for version, active in (("202512", False), ("202601", True), (LINKEDIN_VERSION, True), ("202701", False)):
        answer = requests.post(hosts.base("linkedin") + "/rest/posts", json={}, timeout=5,
                               headers={**headers, "LinkedIn-Version": version})
        assert (answer.status_code == 426) is not active, (version, answer.status_code)
