"""Session cookie flags, a clean URL after the callback, no referrer leak, no tokens in the session."""
from __future__ import annotations

from urllib.parse import urlsplit

from hub.app import create_app
from tests.auth.helpers import ADA, callback_url
from tests.live import Browser, LiveHub


def test_callback_sets_a_httponly_lax_cookie_and_redirects_to_a_clean_url(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    url = callback_url(browser, "google", ADA, next="/account?tab=identities")
    assert "code=" in url and "state=" in url
    answer = browser.http.get(url, allow_redirects=False)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location == "/account?tab=identities"
    assert "code" not in urlsplit(location).query and "state" not in location
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"
    cookie = answer.headers["Set-Cookie"]
    assert cookie.startswith("hub_session=")
    flags = [flag.strip().lower() for flag in cookie.split(";")]
    assert "httponly" in flags and "samesite=lax" in flags
    assert "secure" not in flags  # http on loopback: a Secure cookie would never come back


def test_the_signed_session_holds_no_provider_tokens(live: LiveHub) -> None:
    live.add_provider("google")
    browser = Browser(live)
    answer = browser.http.get(callback_url(browser, "google", ADA), allow_redirects=False)
    assert answer.status_code == 302
    serializer = live.app.session_interface.get_signing_serializer(live.app)
    contents = serializer.loads(browser.http.cookies["hub_session"])
    assert set(contents) <= {"session_id", "uid", "epoch", "idp", "auth_time", "_permanent", "csrf_token", "_fresh"}
    for token in live.sandboxes["google"].tokens:
        assert token not in str(contents)


def test_error_pages_of_the_callback_carry_no_referrer_either(live: LiveHub) -> None:
    live.add_provider("google")
    answer = Browser(live).get("/auth/google/callback", params={"state": "x", "code": "y"})
    assert answer.status_code == 400
    assert answer.headers["Referrer-Policy"] == "no-referrer"


def test_cookie_is_secure_when_the_base_url_is_https(hub_env: dict[str, str]) -> None:
    app = create_app({**hub_env, "HUB_BASE_URL": "https://hub.example.edu", "HUB_INSECURE_LOOPBACK": "0",
                      "HUB_SANDBOXES": "0"})  # an https hub refuses the sandboxes
    try:
        answer = app.test_client().get("/login", base_url="https://hub.example.edu")
        assert answer.status_code == 200
        cookie = answer.headers["Set-Cookie"]
        flags = [flag.strip().lower() for flag in cookie.split(";")]
        assert cookie.startswith("hub_session=")
        assert "secure" in flags and "httponly" in flags and "samesite=lax" in flags
    finally:
        app.extensions["db_engine"].dispose()
