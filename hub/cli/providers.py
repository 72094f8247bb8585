"""`hub provider`: the sign-in providers."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import click
from sqlalchemy import select

from hub.cli.common import Names, admin, emit
from hub.errors import HubError


def _login_kinds() -> Iterable[str]:
    from providers import registry

    return sorted(registry.KINDS)


def _profile_sync_modes() -> Iterable[str]:
    from hub import provider_store

    return provider_store.PROFILE_SYNC


@click.group()
def provider() -> None:
    """Sign-in providers."""


@provider.command("add")
@click.argument("name")
@click.option("--kind", required=True, type=Names(_login_kinds, "a sign-in provider kind"),
              help="What the provider is (oidc: any other OpenID Connect provider).")
@click.option("--client-id", required=True)
@click.option("--client-secret", required=True)
@click.option("--issuer", help="Issuer URL (required for kind oidc; an override for the others).")
@click.option("--scope", "scopes", multiple=True, help="Replace the default sign-in scopes (repeatable).")
@click.option("--api-base", help="Base URL of the provider's API (a sandbox or compatible server).")
@click.option("--auth-base", help="Base URL of the provider's authorization server.")
@click.option("--hidden", is_flag=True, help="Keep it off the sign-in page: for linking only.")
@click.option("--profile-sync", type=Names(_profile_sync_modes, "a profile sync mode"), default="always",
              show_default=True)
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE[,VALUE]",
              help="Provider option, e.g. tenant_allow=..., hd_allow=..., team_allow=..., label=...")
@admin
def provider_add(name: str, kind: str, client_id: str, client_secret: str, issuer: str | None,
                 scopes: tuple[str, ...], api_base: str | None, auth_base: str | None, hidden: bool,
                 profile_sync: str, options: tuple[str, ...]) -> None:
    """Add (or replace) a sign-in provider."""
    from flask import current_app

    from hub import audit, db, provider_store, redirect_uris

    with db.transaction() as session:
        row = provider_store.add_provider(
            session, current_app.extensions["vault"], name=name, kind=kind, client_id=client_id,
            client_secret=client_secret, issuer=issuer, scopes=scopes, api_base=api_base, auth_base=auth_base,
            options=_options(options), hidden=hidden, profile_sync=profile_sync,
            insecure_loopback=current_app.extensions["settings"].insecure_loopback,
            allow_hosts=current_app.extensions["settings"].provider_allow_hosts)
    audit.record("provider.add", "success", actor="cli", provider=row.name)
    click.echo(f"provider {row.name} ({row.kind}) added. Register every one of these redirect URIs with its app:")
    for uri in redirect_uris.for_provider(current_app.extensions["settings"].base_url, row.name, row.kind):
        click.echo(f"  {uri.url}  ({uri.purpose})")


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise HubError(f"--option {pair!r} must look like KEY=VALUE")
        options[key] = [v.strip() for v in value.split(",") if v.strip()] if key.endswith("_allow") else value
    return options


@provider.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def provider_list(as_json: bool) -> None:
    """List providers (secrets are never shown)."""
    from hub import db
    from hub.models import ProviderConfig

    rows = [{"name": p.name, "kind": p.kind, "client_id": p.client_id, "enabled": p.enabled, "hidden": p.hidden,
             "issuer": p.issuer, "scopes": p.scopes, "api_base": p.api_base, "auth_base": p.auth_base,
             "profile_sync": p.profile_sync, "options": p.options}
            for p in db.session().scalars(select(ProviderConfig).order_by(ProviderConfig.name))]
    emit(rows, as_json, ["name", "kind", "client_id", "enabled", "hidden", "issuer"])


@provider.command("disable")
@click.argument("name")
@admin
def provider_disable(name: str) -> None:
    """Stop offering a provider; its users keep their accounts and other sign-ins."""
    _switch_provider(name, enabled=False)


@provider.command("enable")
@click.argument("name")
@admin
def provider_enable(name: str) -> None:
    """Offer a disabled provider again."""
    _switch_provider(name, enabled=True)


def _switch_provider(name: str, enabled: bool) -> None:
    from hub import audit, db, provider_store

    change = "enable" if enabled else "disable"
    with db.transaction() as session:
        provider_store.set_enabled(session, name, enabled)
    audit.record(f"provider.{change}", "success", actor="cli", provider=name)
    click.echo(f"provider {name} {change}d")


COMMANDS = (provider,)
