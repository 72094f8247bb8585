"""Configured providers: admin input checked and stored (secrets sealed), instances cached per app."""
from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import names
from hub.crypto import Vault
from hub.errors import HubError
from hub.models import ProviderConfig
from providers import registry
from providers.addresses import AddressPolicy, url_refusal
from providers.base import Brand, Provider, ProviderSettings, UnsafeURL, check_url

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
PROFILE_SYNC = ("always", "create")  # always: profile fields refresh at every login; create: only when the user is made


class InvalidProvider(HubError):
    """Admin input for a provider is wrong; the message says which field."""


def add_provider(db: Session, vault: Vault, *, name: str, kind: str, client_id: str, client_secret: str,
                 issuer: str | None = None, scopes: Sequence[str] = (), api_base: str | None = None,
                 auth_base: str | None = None, options: dict[str, Any] | None = None,
                 hidden: bool = False, profile_sync: str = "always", insecure_loopback: bool = False,
                 allow_hosts: frozenset[str] = frozenset()) -> ProviderConfig:
    """Validate and store a provider (or replace one of the same name).

    `allow_hosts` is HUB_PROVIDER_ALLOW_HOSTS: the URLs' hosts must resolve to public addresses unless it names them
    (or, with insecure_loopback, they resolve to loopback).
    """
    if not NAME_PATTERN.match(name):
        raise InvalidProvider("name must be lowercase letters, digits and dashes, starting with a letter")
    try:
        provider_class = registry.provider_class(kind)
    except registry.UnknownKind as exc:
        raise InvalidProvider(str(exc.args[0])) from None
    if not client_id.strip():
        raise InvalidProvider("--client-id must not be empty")
    if not client_secret:
        raise InvalidProvider("--client-secret must not be empty")
    if profile_sync not in PROFILE_SYNC:
        raise InvalidProvider("profile sync must be 'always' or 'create'")
    _check_options(options or {})
    _check_choices(provider_class, options or {})
    policy = AddressPolicy.of(allow_hosts, (issuer, api_base, auth_base), loopback=insecure_loopback)
    for label, url in (("--issuer", issuer), ("--api-base", api_base), ("--auth-base", auth_base)):
        if url:
            try:
                check_url(url, insecure_loopback)
            except UnsafeURL as exc:
                raise InvalidProvider(f"{label}: {exc}") from None
            # Refused now, with the setting that allows it, rather than at the first sign-in; every call checks again.
            reason = url_refusal(url, policy)
            if reason:
                raise InvalidProvider(f"{label}: {reason}")
    if provider_class.requires_issuer and not issuer:
        raise InvalidProvider(f"--issuer is required for kind {kind}")
    row = db.scalar(select(ProviderConfig).where(ProviderConfig.name == name)) or ProviderConfig(name=name)
    row.kind, row.client_id = kind, client_id.strip()
    row.client_secret_sealed = vault.seal(client_secret, row.seal_context)
    row.issuer, row.scopes, row.api_base, row.auth_base = issuer, list(scopes), api_base, auth_base
    row.options, row.hidden, row.profile_sync, row.enabled = options or {}, hidden, profile_sync, True
    db.add(row)
    return row


def _check_options(options: dict[str, Any]) -> None:
    """Option values are admin-typed text; `label` is the sign-in button everyone sees, so none may hide characters."""
    for key, value in options.items():
        for text in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(text, str) and (hidden := names.problem(text, f"--option {key}")):
                raise InvalidProvider(hidden)


def _check_choices(provider_class: type[Provider], options: dict[str, Any]) -> None:
    """Options the provider kind says take one of a few values (Slack's slack_app): refused unless one of them."""
    for key, choices in provider_class.option_choices.items():
        if key in options and options[key] not in choices:
            raise InvalidProvider(f"--option {key}={options[key]!s} must be one of {', '.join(choices)}")


def set_enabled(db: Session, name: str, enabled: bool) -> ProviderConfig:
    """Offer a provider again, or stop offering it (its users keep their accounts and other sign-ins)."""
    row = db.scalar(select(ProviderConfig).where(ProviderConfig.name == name))
    if row is None:
        raise InvalidProvider(f"no provider called {name!r}")
    row.enabled = enabled
    return row


class ProviderCache:
    """Provider instances by name, rebuilt when the row changes; they hold the JWKS and discovery caches."""

    def __init__(self) -> None:
        self._instances: dict[str, tuple[Any, Provider]] = {}
        self._lock = threading.Lock()

    def get(self, db: Session, name: str) -> tuple[ProviderConfig, Provider] | None:
        """The enabled provider called name, or None."""
        row = db.scalar(select(ProviderConfig).where(ProviderConfig.name == name, ProviderConfig.enabled.is_(True)))
        if row is None:
            return None
        version = (row.updated_at, row.kind)
        cached = self._instances.get(name)
        if cached and cached[0] == version:
            return row, cached[1]
        with self._lock:
            instance = registry.build(row.kind, self.settings_for(row))
            self._instances[name] = (version, instance)
        return row, instance

    @staticmethod
    def settings_for(row: ProviderConfig) -> ProviderSettings:
        settings = current_app.extensions["settings"]
        vault: Vault = current_app.extensions["vault"]
        return ProviderSettings(
            name=row.name, client_id=row.client_id,
            client_secret=vault.open(row.client_secret_sealed, row.seal_context),
            issuer=row.issuer, scopes=tuple(row.scopes or ()), api_base=row.api_base, auth_base=row.auth_base,
            options=row.options or {}, insecure_loopback=settings.insecure_loopback, ca_bundle=settings.ca_bundle,
            provider_allow_hosts=settings.provider_allow_hosts,
        )


def listed(db: Session) -> list[ProviderConfig]:
    """Enabled providers shown on the sign-in page."""
    return list(db.scalars(select(ProviderConfig).where(ProviderConfig.enabled.is_(True),
                                                         ProviderConfig.hidden.is_(False)).order_by(ProviderConfig.id)))


def brand_of(row: ProviderConfig) -> Brand:
    """The button style for a provider row, without building an instance."""
    return registry.provider_class(row.kind).brand_for(row.name, row.options or {})


def linkable(db: Session) -> list[ProviderConfig]:
    """Enabled providers a signed-in user may link, hidden (link-only) ones included."""
    return list(db.scalars(select(ProviderConfig).where(ProviderConfig.enabled.is_(True)).order_by(ProviderConfig.id)))


def brand_by_name(db: Session, name: str) -> Brand | None:
    row = db.scalar(select(ProviderConfig).where(ProviderConfig.name == name))
    return brand_of(row) if row else None
