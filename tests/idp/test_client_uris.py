"""`hub client set-uris`: an LMS's post-logout URI (Canvas's /login) registered after the client was added."""
from __future__ import annotations

import json

from click.testing import CliRunner, Result
from sqlalchemy import select

from hub.cli import main
from hub.models import AuditEvent, OAuthClient
from tests.auth.helpers import signed_in
from tests.idp.conftest import LMS_CALLBACK, LMS_LOGGED_OUT, Lms

CANVAS_LOGIN = "https://lms.example.edu/login"  # where Canvas asks to land after logout (its login_url)


def _run(lms: Lms, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=lms.live.env)


def _row(lms: Lms) -> dict[str, object]:
    rows = {r["name"]: r for r in json.loads(_run(lms, "client", "list", "--json").output)}
    return rows["Moodle"]


def test_a_new_post_logout_uri_is_where_logout_returns_and_the_old_one_is_not(lms: Lms) -> None:
    before = _row(lms)
    done = _run(lms, "client", "set-uris", "Moodle", "--post-logout-uri", CANVAS_LOGIN)
    assert done.exit_code == 0, done.output
    assert f"post-logout URIs {CANVAS_LOGIN}" in done.output
    after = _row(lms)
    # The id, the secret (so the signed-in RP below still works) and the redirect URIs are kept.
    assert after["client_id"] == before["client_id"] and after["redirect_uris"] == [LMS_CALLBACK]
    assert after["post_logout_uris"] == [CANVAS_LOGIN]
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    back = browser.http.get(f"{lms.live.url}/oauth/logout", allow_redirects=False,
                            params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": CANVAS_LOGIN})
    assert back.status_code == 302 and back.headers["Location"] == CANVAS_LOGIN
    assert not signed_in(browser)
    # The URI it replaced is no longer a place logout may send anyone.
    browser = lms.browser()
    tokens = lms.sign_in(browser)
    old = browser.http.get(f"{lms.live.url}/oauth/logout", allow_redirects=False,
                           params={"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": LMS_LOGGED_OUT})
    assert old.status_code == 200 and "Location" not in old.headers
    with lms.live.context() as session:
        audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "idp.client.set_uris")).one()
        assert audit.detail["post_logout_uris"] == [CANVAS_LOGIN]


def test_bad_or_empty_requests_change_nothing_and_say_why(lms: Lms) -> None:
    before = _row(lms)
    cases = [
        (("--post-logout-uri", CANVAS_LOGIN, "--post-logout-uri", "http://evil.example/bye"), "https"),
        (("--redirect-uri", "https://lms.example.edu/cb#frag"), "fragment"),
        ((), "nothing to change"),
        (("--post-logout-uri", CANVAS_LOGIN, "--no-post-logout-uris"), "contradict"),
    ]
    for args, reason in cases:
        refused = _run(lms, "client", "set-uris", "Moodle", *args)
        assert refused.exit_code != 0 and reason in refused.output, (args, refused.output)
        assert "Traceback" not in refused.output
    assert _row(lms) == before
    missing = _run(lms, "client", "set-uris", "Nobody", "--post-logout-uri", CANVAS_LOGIN)
    assert missing.exit_code != 0 and "no client named 'Nobody'" in missing.output


def test_post_logout_uris_can_be_removed_and_a_revoked_client_is_left_alone(lms: Lms) -> None:
    cleared = _run(lms, "client", "set-uris", "Moodle", "--no-post-logout-uris")
    assert cleared.exit_code == 0 and "post-logout URIs none" in cleared.output
    assert _row(lms)["post_logout_uris"] == []
    assert _run(lms, "client", "revoke", "Moodle").exit_code == 0
    refused = _run(lms, "client", "set-uris", "Moodle", "--post-logout-uri", CANVAS_LOGIN)
    assert refused.exit_code != 0 and "revoked" in refused.output
    with lms.live.context() as session:
        assert session.scalars(select(OAuthClient.post_logout_uris)).one() == []
