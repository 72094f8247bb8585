"""Settings: every HUB_* variable validated in one place; a bad one names itself in a ConfigError."""
from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

from hub.app import HSTS, create_app
from hub.config import load_settings
from hub.demo import tls
from hub.errors import ConfigError


@pytest.fixture
def good(tmp_path: Path) -> dict[str, str]:
    return {
        "HUB_SECRET_KEY": secrets.token_hex(32),
        "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "HUB_BASE_URL": "https://hub.example.edu",
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
    }


def test_good_settings_load_with_safe_defaults(good: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(good)
    assert settings.base_url == "https://hub.example.edu"
    assert settings.secure_cookies and not settings.insecure_loopback and not settings.sandboxes
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'hub.db'}"
    assert settings.redis_url is None and not settings.redis_embedded  # no Redis until one is named
    assert settings.lms_origins == ()


def test_values_are_normalised(good: dict[str, str], tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    key2 = Fernet.generate_key().decode()
    settings = load_settings({
        **good, "HUB_BASE_URL": "https://hub.example.edu/", "HUB_DATABASE_URL": "postgres://u:p@db/hub",
        "HUB_LMS_ORIGINS": "https://LMS.example.edu, https://moodle.example.org:443/, http://127.0.0.1:80, "
                           "https://edx.example.org:8443",
        "HUB_ENCRYPTION_KEYS": f"{good['HUB_ENCRYPTION_KEYS']}, {key2}", "HUB_ADMIN_EMAILS": "Admin@Hub.example",
        "HUB_INSECURE_LOOPBACK": "Yes", "HUB_SANDBOXES": "off", "HUB_CA_BUNDLE": str(bundle),
        "HUB_SMTP_URL": "smtp+starttls://user:pw@mail.example.edu:587", "HUB_REDIS_URL": "redis://127.0.0.1:6379/2",
    })
    assert settings.base_url == "https://hub.example.edu"
    assert settings.database_url == "postgresql+psycopg://u:p@db/hub"
    # As browsers send Origin: the scheme's default port left out, any other port kept.
    assert settings.lms_origins == ("https://lms.example.edu", "https://moodle.example.org", "http://127.0.0.1",
                                    "https://edx.example.org:8443")
    assert len(settings.encryption_keys) == 2
    assert settings.admin_emails == ("admin@hub.example",)
    assert settings.insecure_loopback and not settings.sandboxes
    assert settings.ca_bundle == str(bundle)


def test_http_base_url_is_allowed_only_on_loopback_with_the_flag(good: dict[str, str]) -> None:
    settings = load_settings({**good, "HUB_BASE_URL": "http://127.0.0.1:5000", "HUB_INSECURE_LOOPBACK": "1"})
    assert not settings.secure_cookies
    assert load_settings({**good, "HUB_BASE_URL": "http://localhost:8000", "HUB_INSECURE_LOOPBACK": "true"})


BAD = [
    ("HUB_SECRET_KEY", None),
    ("HUB_SECRET_KEY", "too-short"),
    ("HUB_ENCRYPTION_KEYS", None),
    ("HUB_ENCRYPTION_KEYS", ""),
    ("HUB_ENCRYPTION_KEYS", "not-a-fernet-key"),
    ("HUB_BASE_URL", "ftp://hub.example.edu"),
    ("HUB_BASE_URL", "hub.example.edu"),
    ("HUB_BASE_URL", "http://hub.example.edu"),
    ("HUB_BASE_URL", "http://127.0.0.1:5000"),  # loopback, but HUB_INSECURE_LOOPBACK is off
    ("HUB_BASE_URL", "https://hub.example.edu/?x=1"),
    ("HUB_BASE_URL", "https://user:pw@hub.example.edu"),
    ("HUB_BASE_URL", "https://hub.example.edu/#frag"),
    ("HUB_INSECURE_LOOPBACK", "maybe"),
    ("HUB_SANDBOXES", "2"),
    ("HUB_REDIS_EMBEDDED", "maybe"),
    ("HUB_DATABASE_URL", "mysql://db/hub"),
    ("HUB_REDIS_URL", "http://127.0.0.1:6379"),
    ("HUB_LMS_ORIGINS", "lms.example.edu"),
    ("HUB_LMS_ORIGINS", "https://lms.example.edu/courses"),
    ("HUB_LMS_ORIGINS", "javascript:alert(1)"),
    ("HUB_CA_BUNDLE", "/nonexistent/ca.pem"),
    ("HUB_SMTP_URL", "mail.example.edu:25"),
    ("HUB_SMTP_URL", "http://mail.example.edu"),
    ("HUB_ADMIN_EMAILS", "admin@hub.example, not-an-email"),
    ("HUB_MAIL_FROM", "hub"),
    ("HUB_FEED_ALLOW_HOSTS", "feeds.example.com:0"),
    ("HUB_FEED_ALLOW_HOSTS", "feeds.example.com:http"),
    ("HUB_PROVIDER_ALLOW_HOSTS", "https://idp.example.com"),
    ("HUB_PROVIDER_ALLOW_HOSTS", "idp.example.com:65536"),
    ("HUB_PROVIDER_ALLOW_HOSTS", "[idp.example.com]:443"),
    # An https HUB_BASE_URL is production: no stand-in providers, no guessable session key.
    ("HUB_SANDBOXES", "1"),
    ("HUB_REDIS_EMBEDDED", "1"),
    ("HUB_SECRET_KEY", "x" * 40),
    ("HUB_SECRET_KEY", "abcdefghij" * 4),  # ten different characters, but one piece repeated
    ("HUB_SECRET_KEY", "0123456789abcdef" + "a" * 8 + "0123456789abcdef"),  # a run of eight
    ("HUB_SECRET_KEY", "ab12" * 10),
]


@pytest.mark.parametrize(("name", "value"), BAD, ids=[f"{n}={v!r}" for n, v in BAD])
def test_a_bad_variable_is_named_in_the_error(good: dict[str, str], name: str, value: str | None) -> None:
    env = dict(good)
    if value is None:
        env.pop(name, None)
    else:
        env[name] = value
    with pytest.raises(ConfigError) as error:
        load_settings(env)
    assert name in str(error.value)


def test_create_app_refuses_to_start_on_a_bad_variable(good: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="HUB_ENCRYPTION_KEYS"):
        create_app({**good, "HUB_ENCRYPTION_KEYS": "nope"})


def test_secrets_are_not_echoed_in_the_error(good: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({**good, "HUB_SECRET_KEY": "short-but-secret"})
    assert "short-but-secret" not in str(error.value)
    with pytest.raises(ConfigError) as error:
        load_settings({**good, "HUB_ENCRYPTION_KEYS": "leaky-key-material"})
    assert "leaky-key-material" not in str(error.value)
    for name, url in (("HUB_DATABASE_URL", "mysql://hub:db-password@db/hub"),
                      ("HUB_REDIS_URL", "http://:redis-password@cache:6379")):
        with pytest.raises(ConfigError) as error:
            load_settings({**good, name: url})
        assert name in str(error.value) and "password" not in str(error.value)


def test_allow_lists_take_hosts_with_or_without_a_port(good: dict[str, str]) -> None:
    settings = load_settings({**good, "HUB_PROVIDER_ALLOW_HOSTS": " IdP.Example.internal, sso.example.internal:8443,"
                                                                  "10.0.0.5, [fd00::5]:443, [::1]",
                              "HUB_FEED_ALLOW_HOSTS": "feeds.example.internal:8080"})
    assert settings.provider_allow_hosts == frozenset({"idp.example.internal", "sso.example.internal:8443",
                                                       "10.0.0.5", "[fd00::5]:443", "::1"})
    assert settings.feed_allow_hosts == frozenset({"feeds.example.internal:8080"})
    assert load_settings(good).provider_allow_hosts == frozenset()


def test_the_sandboxes_and_a_weak_key_are_allowed_on_a_loopback_hub(good: dict[str, str]) -> None:
    settings = load_settings({**good, "HUB_BASE_URL": "http://127.0.0.1:5000", "HUB_INSECURE_LOOPBACK": "1",
                              "HUB_SANDBOXES": "1", "HUB_SECRET_KEY": "x" * 40})
    assert settings.sandboxes and settings.secret_key == "x" * 40


def test_an_https_hub_refuses_the_sandboxes_saying_what_to_do(good: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=r"HUB_SANDBOXES=1 .* https hub refuses it: unset HUB_SANDBOXES"):
        load_settings({**good, "HUB_SANDBOXES": "1"})
    assert not load_settings({**good, "HUB_SANDBOXES": "0"}).sandboxes


def test_the_embedded_redis_is_asked_for_on_a_loopback_hub_and_refused_on_https(good: dict[str, str]) -> None:
    loopback = {**good, "HUB_BASE_URL": "http://127.0.0.1:5000", "HUB_INSECURE_LOOPBACK": "1"}
    assert load_settings({**loopback, "HUB_REDIS_EMBEDDED": "1"}).redis_embedded
    with pytest.raises(ConfigError, match=r"https hub refuses: unset it and set HUB_REDIS_URL=redis://"):
        load_settings({**good, "HUB_REDIS_EMBEDDED": "1"})
    assert not load_settings({**good, "HUB_REDIS_EMBEDDED": "0"}).redis_embedded


def test_an_https_hub_on_loopback_with_insecure_loopback_is_a_local_trial_not_production(good: dict[str, str]) -> None:
    """`hub demo --https`: a loopback https base URL reaches only this machine, so the demo's conveniences stay."""
    trial = {**good, "HUB_BASE_URL": "https://127.0.0.1:5000", "HUB_INSECURE_LOOPBACK": "1", "HUB_SANDBOXES": "1",
             "HUB_REDIS_EMBEDDED": "1", "HUB_SECRET_KEY": "x" * 40}
    settings = load_settings(trial)
    assert settings.sandboxes and settings.redis_embedded and settings.secure_cookies
    # Without the opt-in, or on any other host, it is production again.
    for change in ({"HUB_INSECURE_LOOPBACK": "0"}, {"HUB_BASE_URL": "https://hub.example.com"},
                   {"HUB_BASE_URL": "https://10.0.0.5:5000"}):
        with pytest.raises(ConfigError, match="https hub"):
            load_settings({**trial, **change})


def test_an_https_hub_refuses_the_demos_secret_key(good: dict[str, str], tmp_path: Path) -> None:
    """`hub demo` keeps its generated key in demo-secrets.json under the instance folder: production must not use it."""
    from hub.demo import demo_env

    demo_key = demo_env(tmp_path / "instance", "127.0.0.1", 5000)["HUB_SECRET_KEY"]
    assert json.loads((tmp_path / "instance" / "demo-secrets.json").read_text())["HUB_SECRET_KEY"] == demo_key
    with pytest.raises(ConfigError, match=r"HUB_SECRET_KEY is the demo's .* make a new one with python -c"):
        load_settings({**good, "HUB_SECRET_KEY": demo_key})
    assert load_settings(good).secret_key == good["HUB_SECRET_KEY"]  # another key beside the demo's file is fine


def test_a_predictable_key_is_refused_with_how_to_make_one(good: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({**good, "HUB_SECRET_KEY": "abcdefghij" * 4})
    assert "too predictable" in str(error.value) and "secrets.token_hex(32)" in str(error.value)
    assert "abcdefghij" not in str(error.value)
    assert load_settings({**good, "HUB_SECRET_KEY": secrets.token_urlsafe(32)})


def test_an_https_hub_sends_hsts_over_https(good: dict[str, str], hub_env: dict[str, str],
                                            tmp_path: Path) -> None:
    """Served over real TLS (hub.demo.tls, as the demo serves its Microsoft sandbox): every answer carries HSTS."""
    files = tls.ensure_dev_certificate(tmp_path / "tls")
    app = create_app({**hub_env, "HUB_BASE_URL": "https://hub.example.edu", "HUB_INSECURE_LOOPBACK": "0",
                      "HUB_SANDBOXES": "0", "HUB_SECRET_KEY": good["HUB_SECRET_KEY"]})
    server = tls.serve_tls(app, "127.0.0.1", 0, files.cert, files.key)
    try:
        for path in ("/login", "/healthz", "/nothing-here"):
            answer = requests.get(f"https://127.0.0.1:{server.server_port}{path}", verify=str(files.ca), timeout=10)
            assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains" == HSTS
    finally:
        server.shutdown()
        app.extensions["db_engine"].dispose()


def test_a_loopback_https_hub_keeps_secure_cookies_but_sends_no_hsts(hub_env: dict[str, str]) -> None:
    """`hub demo --https`: HSTS on localhost would make the browser refuse http to every local server for a year."""
    app = create_app({**hub_env, "HUB_BASE_URL": "https://localhost:5000", "HUB_INSECURE_LOOPBACK": "1"})
    try:
        settings = app.extensions["settings"]
        assert settings.secure_cookies and not settings.hsts
        assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
    finally:
        app.extensions["db_engine"].dispose()


def test_a_loopback_http_hub_sends_no_hsts(hub_env: dict[str, str]) -> None:
    app = create_app({**hub_env, "HUB_BASE_URL": "http://127.0.0.1:5000"})
    try:
        assert "Strict-Transport-Security" not in app.test_client().get("/login").headers
    finally:
        app.extensions["db_engine"].dispose()


def test_rate_limits_default_and_take_the_limits_notation(good: dict[str, str]) -> None:
    settings = load_settings(good)
    assert (settings.rate_limit_login, settings.rate_limit_client_auth, settings.rate_limit_scim) == (
        "300/minute", "10/minute", "600/minute")
    settings = load_settings({**good, "HUB_RATE_LIMIT_LOGIN": "5 per minute",
                              "HUB_RATE_LIMIT_SCIM": "10/second;600/hour"})
    assert (settings.rate_limit_login, settings.rate_limit_scim) == ("5 per minute", "10/second;600/hour")


@pytest.mark.parametrize("name", ["HUB_RATE_LIMIT_LOGIN", "HUB_RATE_LIMIT_CLIENT_AUTH", "HUB_RATE_LIMIT_SCIM"])
@pytest.mark.parametrize("value", ["30", "30/minit", "0/minute", "-1/minute", "30/minute;x", "thirty/minute"])
def test_a_rate_limit_typo_is_a_config_error_naming_it(good: dict[str, str], name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a rate like 30/minute"):
        load_settings({**good, name: value})


@pytest.mark.parametrize(("max_age", "idle", "expected"), [
    (None, None, (43200, 7200)),  # 12 hours and 2 hours
    ("43200", "90m", (43200, 5400)),
    ("1d", "12h", (86400, 43200)),
    (" 8H ", "300s", (28800, 300)),
    ("1h", None, (3600, 3600)),  # an unset idle timeout is capped at the max age
])
def test_session_lifetimes_read_seconds_or_a_unit(good: dict[str, str], max_age: str | None, idle: str | None,
                                                  expected: tuple[int, int]) -> None:
    env = {**good, **{name: value for name, value in (("HUB_SESSION_MAX_AGE", max_age), ("HUB_SESSION_IDLE", idle))
                      if value is not None}}
    settings = load_settings(env)
    assert (settings.session_max_age.total_seconds(), settings.session_idle.total_seconds()) == expected


@pytest.mark.parametrize(("name", "value", "message"), [
    ("HUB_SESSION_MAX_AGE", "12 hours", "must be a duration like 12h"),
    ("HUB_SESSION_MAX_AGE", "-1h", "must be a duration like 12h"),
    ("HUB_SESSION_MAX_AGE", "1.5h", "must be a duration like 12h"),
    ("HUB_SESSION_IDLE", "0", "between 5m and 365d"),
    ("HUB_SESSION_IDLE", "60s", "between 5m and 365d"),  # last use is recorded once a minute
    ("HUB_SESSION_MAX_AGE", "366d", "between 5m and 365d"),
    ("HUB_SESSION_IDLE", "13h", "must not be longer than HUB_SESSION_MAX_AGE"),
])
def test_a_bad_session_lifetime_says_what_to_write(good: dict[str, str], name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings({**good, name: value})
    assert name in str(error.value) and message in str(error.value)


def test_flask_debug_in_the_environment_does_not_put_the_hub_in_debug_mode(
        hub_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Under gunicorn, FLASK_DEBUG=1 would otherwise hand errors to the server instead of the hub's 500 page."""
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app(hub_env)
    try:
        assert app.debug is False and app.config["PROPAGATE_EXCEPTIONS"] is None
    finally:
        app.extensions["db_engine"].dispose()
