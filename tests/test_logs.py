"""Codes, state and one-time links stay out of the logs, including the server's access log."""
from __future__ import annotations

import logging

import pytest

from hub.logs import redact
from tests.live import Browser, LiveHub


def test_redact_removes_codes_state_tokens_and_confirmation_links() -> None:
    line = ('"GET /auth/google/callback?state=s3cr3t&code=c0de&iss=https://x HTTP/1.1" 302 '
            '/login?invite=inv_abc /auth/confirm/tok3n?x=1 access_token=at id_token=eyJ')
    cleaned = redact(line)
    for secret in ("s3cr3t", "c0de", "inv_abc", "tok3n", "=at", "eyJ"):
        assert secret not in cleaned
    assert "iss=https://x" in cleaned and "/auth/google/callback?" in cleaned


def test_access_log_of_a_real_sign_in_carries_no_code_or_state(live: LiveHub,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    live.add_provider("google")
    browser = Browser(live)
    start = browser.start_login("google")
    callback = browser.pick_user(start.headers["Location"], "110169484474386276334")
    code = callback.split("code=")[1].split("&")[0]
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        assert browser.http.get(callback, allow_redirects=False).status_code == 302
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "/auth/google/callback" in logged  # the request was logged...
    assert code not in logged  # ...without its code
