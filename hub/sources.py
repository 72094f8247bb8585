"""LMS sources: create, list, enable, and rotate their Standard Webhooks secrets (sealed at rest)."""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import tenancy
from hub.crypto import Vault
from hub.errors import HubError
from hub.models import Organisation, Source
from webhooks.signature import new_secret

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


@dataclass(frozen=True)
class SourceInfo:
    """A source as listings show it: never its secrets, only how many are valid."""

    name: str
    enabled: bool
    home_page: str
    webhook_secrets: int
    xapi: bool
    created_at: datetime
    orgs: list[str] | str  # "all", or the names of the organisations whose learners its events may name
    # Made before organisations were tenants and kept working for all of them: narrow it with --org.
    all_orgs_by_migration: bool


def find_source(session: Session, name: str) -> Source:
    """The source called name, or a HubError naming it."""
    found = session.scalar(select(Source).where(Source.name == name))
    if found is None:
        raise HubError(f"no source named {name!r}")
    return found


def add_source(session: Session, vault: Vault, name: str, home_page: str | None = None, *,
               orgs: list[Organisation] | None = None, all_orgs: bool = False) -> tuple[Source, str]:
    """Create a source with one fresh `whsec_` secret, reaching `orgs` (or, said explicitly, all organisations);
    returns the source and the secret (shown once)."""
    tenancy.check_scope(orgs or [], all_orgs)
    if not _NAME.match(name):
        raise HubError(f"source name {name!r} must be 1-64 lowercase letters, digits and dashes (it is a URL segment)")
    if home_page is not None and (urlsplit(home_page).scheme not in {"http", "https"}
                                  or not urlsplit(home_page).hostname):
        raise HubError(f"--home-page must be the LMS's http(s) URL, like https://lms.example.edu, not {home_page!r}")
    if session.scalar(select(Source.id).where(Source.name == name)) is not None:
        raise HubError(f"a source named {name!r} already exists (rotate its secret with: hub source rotate {name})")
    source = Source(name=name, home_page=home_page, enabled=True)
    secret = new_secret()
    _store(vault, source, [secret])
    session.add(source)
    session.flush()
    tenancy.scope_source(session, source, orgs or [], all_orgs)
    return source, secret


def list_sources(session: Session, vault: Vault) -> list[SourceInfo]:
    """Every source, by name."""
    return [SourceInfo(name=s.name, enabled=s.enabled, home_page=account_home_page(s),
                       webhook_secrets=len(webhook_secrets(vault, s)), xapi=s.xapi_key is not None,
                       created_at=s.created_at, orgs=tenancy.org_names(session, tenancy.of_source(session, s)),
                       all_orgs_by_migration=s.all_orgs_by_migration)
            for s in session.scalars(select(Source).order_by(Source.name))]


def webhook_secrets(vault: Vault, source: Source) -> list[str]:
    """The source's valid secrets, newest first."""
    if not source.webhook_secrets_sealed:
        return []
    return list(_opened_secrets(vault, source.webhook_secrets_sealed, source.seal_context))


@functools.lru_cache(maxsize=256)
def _opened_secrets(vault: Vault, sealed: str, context: str) -> tuple[str, ...]:
    """Every signed webhook opens its source's secrets; the ciphertext changes whenever they do (rotation, retiring),
    so a cache keyed by it never serves an old set. Measured: the Fernet open was a tenth of the request."""
    return tuple(json.loads(vault.open(sealed, context)))


def rotate_secret(session: Session, vault: Vault, name: str) -> str:
    """Put a new secret in front; the old ones stay valid until retire_secrets (so the LMS can switch at leisure)."""
    source = find_source(session, name)
    secret = new_secret()
    _store(vault, source, [secret, *webhook_secrets(vault, source)])
    return secret


def retire_secrets(session: Session, vault: Vault, name: str) -> int:
    """Keep only the newest secret; returns how many older ones stopped working."""
    source = find_source(session, name)
    current = webhook_secrets(vault, source)
    _store(vault, source, current[:1])
    return max(len(current) - 1, 0)


def set_orgs(session: Session, name: str, orgs: list[Organisation], all_orgs: bool) -> Source:
    """Narrow (or widen) the organisations whose learners a source's events may name."""
    source = find_source(session, name)
    tenancy.scope_source(session, source, orgs, all_orgs)
    return source


def set_enabled(session: Session, name: str, enabled: bool) -> None:
    """A disabled source's webhooks are refused (401, as for an unknown source)."""
    find_source(session, name).enabled = enabled


def account_home_page(source: Source) -> str:
    """The namespace of the LMS's user ids (LmsAccount.home_page): the source's home page, else its name."""
    return source.home_page or source.name


def _store(vault: Vault, source: Source, secrets: list[str]) -> None:
    source.webhook_secrets_sealed = vault.seal(json.dumps(secrets), source.seal_context)
