"""Providers page (hub admins only): list, add (or replace), disable and enable sign-in providers."""
from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from hub import db, provider_store, redirect_uris
from hub.admin import bp
from hub.admin.access import hub_admin_required
from hub.admin.common import done
from hub.models import ProviderConfig
from providers import registry

# add_provider speaks the CLI's language ("--client-id must not be empty"); these map its
# messages to the form field they are about, and to the label the form shows.
FIELD_OF_MESSAGE = (
    ("name ", "name", "Name"),
    ("unknown provider kind", "kind", "Kind"),
    ("--client-id", "client_id", "Client ID"),
    ("--client-secret", "client_secret", "Client secret"),
    ("profile sync", "profile_sync", "Profile sync"),
    ("--issuer", "issuer", "Issuer"),
    ("--api-base", "api_base", "API base"),
    ("--auth-base", "auth_base", "Auth base"),
    ("--option ", "options", "Options: "),
)
REQUIRED = (("name", "Name"), ("kind", "Kind"), ("client_id", "Client ID"), ("client_secret", "Client secret"))
TEXT_FIELDS = ("name", "kind", "client_id", "issuer", "api_base", "auth_base", "scopes", "options", "profile_sync")


def field_error(message: str) -> tuple[str, str]:
    """(field, message in the form's words) for an InvalidProvider message."""
    for prefix, field, label in FIELD_OF_MESSAGE:
        if message.startswith(prefix):
            text = label + message[len(prefix):] if prefix.startswith("--") else message[:1].upper() + message[1:]
            return field, text
    return "form", message


def parse_options(text: str) -> dict[str, Any]:
    """KEY=VALUE lines, as the CLI's --option: *_allow keys take comma-separated lists."""
    options: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.strip().partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"{line.strip()!r} must look like KEY=VALUE")
        options[key] = [v.strip() for v in value.split(",") if v.strip()] if key.endswith("_allow") else value.strip()
    return options


def _kinds() -> list[tuple[str, str]]:
    return [(kind, brand.label) for kind, brand in sorted(registry.brands().items())]


def _page(form: dict[str, Any] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    rows = list(db.session().scalars(select(ProviderConfig).order_by(ProviderConfig.name)))
    form = form or {"kind": "", "profile_sync": "always", "hidden": False}
    base_url = current_app.extensions["settings"].base_url
    uris = {row.name: redirect_uris.for_provider(base_url, row.name, row.kind) for row in rows}
    return render_template("admin/providers.html", rows=rows, kinds=_kinds(), form=form, errors=errors or {},
                           redirect_uris=uris), status


@bp.get("/providers")
@hub_admin_required
def providers() -> Any:
    return _page()


@bp.post("/providers")
@hub_admin_required
def provider_add() -> Any:
    """Add a provider, or replace the one of the same name; errors go back beside their fields."""
    form: dict[str, Any] = {field: request.form.get(field, "").strip() for field in TEXT_FIELDS}
    form["hidden"] = request.form.get("hidden") == "on"
    secret = request.form.get("client_secret", "")
    # Every empty required field at once; add_provider then checks the rest, one message at a time.
    errors = {field: f"{label} is required." for field, label in REQUIRED
              if not (secret if field == "client_secret" else form[field])}
    try:
        options = parse_options(form["options"])
    except ValueError as exc:
        errors["options"], options = f"Options: {exc}", {}
    if not errors:
        try:
            with db.transaction() as session:
                row = provider_store.add_provider(
                    session, current_app.extensions["vault"], name=form["name"], kind=form["kind"],
                    client_id=form["client_id"], client_secret=secret, issuer=form["issuer"] or None,
                    scopes=form["scopes"].replace(",", " ").split(), api_base=form["api_base"] or None,
                    auth_base=form["auth_base"] or None, options=options, hidden=form["hidden"],
                    profile_sync=form["profile_sync"] or "always",
                    insecure_loopback=current_app.extensions["settings"].insecure_loopback,
                    allow_hosts=current_app.extensions["settings"].provider_allow_hosts)
        except provider_store.InvalidProvider as exc:
            field, text = field_error(str(exc))
            errors[field] = text
    if errors:
        done("provider.add", "The provider was not saved: correct the fields marked below.", outcome="failure",
             provider=form["name"] or None, reason="invalid", detail={"errors": errors})
        return _page(form, errors, 400)
    uris = redirect_uris.for_provider(current_app.extensions["settings"].base_url, row.name, row.kind)
    done("provider.add", f"Provider {row.name} ({row.kind}) saved. Register these redirect URIs with its app: "
         + ", ".join(f"{uri.url} ({uri.purpose})" for uri in uris), provider=row.name, detail={"kind": row.kind})
    return redirect(url_for("admin.providers"), 303)


@bp.post("/providers/<name>/<any(enable, disable):change>")
@hub_admin_required
def provider_switch(name: str, change: str) -> Any:
    """Offer a provider again or stop offering it; its users keep their accounts and other sign-ins."""
    try:
        with db.transaction() as session:
            provider_store.set_enabled(session, name, change == "enable")
    except provider_store.InvalidProvider:
        done(f"provider.{change}", f"There is no provider called {name}.", outcome="failure", provider=name,
             reason="not_found")
    else:
        done(f"provider.{change}", f"Provider {name} {change}d.", provider=name)
    return redirect(url_for("admin.providers"), 303)
