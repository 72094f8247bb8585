"""The `hub` command: serve, worker, demo, db, and the admin commands."""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click
from flask import Flask
from sqlalchemy import select

from hub.errors import ConfigError, HubError
from hub.models import MAX_KEY

# A row id: what a primary key can hold (a larger number would be PostgreSQL's "integer out of range").
ROW_ID = click.IntRange(1, MAX_KEY)


def _app() -> Flask:
    from hub.app import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def _emit(rows: list[dict[str, Any]], as_json: bool, columns: Iterable[str]) -> None:
    """Print a listing as JSON (--json) or as an aligned table."""
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    columns = list(columns)
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(_cell(r.get(c))) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo("  ".join(_cell(row.get(c)).ljust(widths[c]) for c in columns))


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def _admin(action: Callable[..., Any]) -> Callable[..., Any]:
    """Run inside an app context, turning HubError into a clear CLI error (exit 1)."""
    import functools

    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = _app()
        with app.app_context():
            try:
                return action(*args, **kwargs)
            except HubError as exc:
                raise click.ClickException(str(exc)) from None

    return wrapper


@click.group()
def main() -> None:
    """Social Hub: sign-in, sharing and feeds between your LMS and social networks."""


# --- running --------------------------------------------------------------------------
@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the web application (production: gunicorn -c python:hub.gunicorn_conf 'hub.wsgi:app')."""
    from werkzeug.serving import run_simple

    app = _app()
    # Never Werkzeug's debugger (a console that runs code for whoever reaches a traceback) or its reloader, whatever
    # FLASK_DEBUG says: Flask reads that at construction, and app.run would turn both on from it (or from a .env).
    app.debug = False
    run_simple(host, port, app, threaded=True, use_reloader=False, use_debugger=False)


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker for the hub's queues."""
    from hub import jobs

    app = _app()
    jobs.run_worker(app, burst=burst)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-browser-hint", is_flag=True, hidden=True)
def demo(host: str, port: int, no_browser_hint: bool) -> None:
    """Everything at once on embedded defaults: migrations, seed data, a worker, every sandbox."""
    from hub import demo as demo_module

    demo_module.run(host=host, port=port)


@main.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="heads", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply the migrations."""
    from hub import db
    from hub.config import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None
    db.upgrade(settings.database_url, revision)
    click.echo(f"database at {revision}")


# --- providers ------------------------------------------------------------------------
@main.group()
def provider() -> None:
    """Sign-in providers."""


@provider.command("add")
@click.argument("name")
@click.option("--kind", required=True, help="linkedin, microsoft, google, slack, x, facebook or oidc")
@click.option("--client-id", required=True)
@click.option("--client-secret", required=True)
@click.option("--issuer", help="Issuer URL (required for kind oidc; an override for the others).")
@click.option("--scope", "scopes", multiple=True, help="Replace the default sign-in scopes (repeatable).")
@click.option("--api-base", help="Base URL of the provider's API (a sandbox or compatible server).")
@click.option("--auth-base", help="Base URL of the provider's authorization server.")
@click.option("--hidden", is_flag=True, help="Keep it off the sign-in page: for linking only.")
@click.option("--profile-sync", type=click.Choice(["always", "create"]), default="always", show_default=True)
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE[,VALUE]",
              help="Provider option, e.g. tenant_allow=..., hd_allow=..., team_allow=..., label=...")
@_admin
def provider_add(name: str, kind: str, client_id: str, client_secret: str, issuer: str | None,
                 scopes: tuple[str, ...], api_base: str | None, auth_base: str | None, hidden: bool,
                 profile_sync: str, options: tuple[str, ...]) -> None:
    """Add (or replace) a sign-in provider."""
    from flask import current_app

    from hub import audit, db, provider_store

    with db.transaction() as session:
        row = provider_store.add_provider(
            session, current_app.extensions["vault"], name=name, kind=kind, client_id=client_id,
            client_secret=client_secret, issuer=issuer, scopes=scopes, api_base=api_base, auth_base=auth_base,
            options=_options(options), hidden=hidden, profile_sync=profile_sync,
            insecure_loopback=current_app.extensions["settings"].insecure_loopback,
            allow_hosts=current_app.extensions["settings"].provider_allow_hosts)
    audit.record("provider.add", "success", actor="cli", provider=row.name)
    click.echo(f"provider {row.name} ({row.kind}) added; callback URL: "
               f"{current_app.extensions['settings'].base_url}/auth/{row.name}/callback")


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
@_admin
def provider_list(as_json: bool) -> None:
    """List providers (secrets are never shown)."""
    from hub import db
    from hub.models import ProviderConfig

    rows = [{"name": p.name, "kind": p.kind, "client_id": p.client_id, "enabled": p.enabled, "hidden": p.hidden,
             "issuer": p.issuer, "scopes": p.scopes, "api_base": p.api_base, "auth_base": p.auth_base,
             "profile_sync": p.profile_sync, "options": p.options}
            for p in db.session().scalars(select(ProviderConfig).order_by(ProviderConfig.name))]
    _emit(rows, as_json, ["name", "kind", "client_id", "enabled", "hidden", "issuer"])


@provider.command("disable")
@click.argument("name")
@_admin
def provider_disable(name: str) -> None:
    """Stop offering a provider; its users keep their accounts and other sign-ins."""
    _switch_provider(name, enabled=False)


@provider.command("enable")
@click.argument("name")
@_admin
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


# --- organisations and invitations -------------------------------------------------------
@main.group()
def org() -> None:
    """Organisations."""


@org.command("add")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, help="Email domain of the organisation (repeatable).")
@click.option("--policy", type=click.Choice(["open", "domain", "invite", "approval", "closed"]), default="open",
              show_default=True)
@click.option("--provider", "home_provider", help="Home provider for its domains (home-realm discovery).")
@_admin
def org_add(name: str, domains: tuple[str, ...], policy: str, home_provider: str | None) -> None:
    """Add an organisation."""
    from hub import audit, db, orgs

    with db.transaction() as session:
        added = orgs.add_org(session, name, list(domains), policy, home_provider)
    audit.record("org.add", "success", actor="cli", detail={"org": added.name, "policy": policy})
    click.echo(f"organisation {added.name} added ({policy})")


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin
def org_list(as_json: bool) -> None:
    """List organisations."""
    from hub import db
    from hub.models import Organisation

    rows = [{"id": o.id, "name": o.name, "policy": o.policy,
             "domains": [{"domain": d.domain, "provider": d.provider} for d in o.domains]}
            for o in db.session().scalars(select(Organisation).order_by(Organisation.name))]
    _emit(rows if as_json else [{**r, "domains": [d["domain"] for d in r["domains"]]} for r in rows], as_json,
          ["id", "name", "policy", "domains"])


@org.command("policy")
@click.argument("name")
@click.argument("policy", type=click.Choice(["open", "domain", "invite", "approval", "closed"]))
@_admin
def org_policy(name: str, policy: str) -> None:
    """Change an organisation's policy (closed refuses every sign-in of its members)."""
    from hub import audit, db, orgs

    from hub import deprovision

    with db.transaction() as session:
        disabled = deprovision.apply_policy(session, orgs.find_org(session, name), policy, actor="cli")
    audit.record("org.policy", "success", actor="cli", detail={"org": name, "policy": policy, "disabled": disabled})
    click.echo(f"organisation {name} is now {policy}" + (f" ({disabled} members disabled)" if disabled else ""))


@org.command("map")
@click.argument("name", required=False)
@click.option("--provider", "provider_name", required=True)
@click.option("--claim", required=True, help="tid (Microsoft), team (Slack), hd (Google)...")
@click.option("--value", required=True)
@click.option("--group", help="Also (or only, without NAME) put matching users in this group.")
@_admin
def org_map(name: str | None, provider_name: str, claim: str, value: str, group: str | None) -> None:
    """Map a provider claim value to an organisation and/or a group."""
    from hub import audit, db, orgs

    with db.transaction() as session:
        target = orgs.find_org(session, name) if name else None
        orgs.add_mapping(session, provider_name, claim, value, target, group)
    audit.record("org.map", "success", actor="cli", provider=provider_name,
                 detail={"org": name, "claim": claim, "value": value, "group": group})
    click.echo(f"{provider_name} {claim}={value} -> {name or '-'} {('group ' + group) if group else ''}".rstrip())


@org.command("mappings")
@click.option("--json", "as_json", is_flag=True)
@_admin
def org_mappings(as_json: bool) -> None:
    """List claim mappings."""
    from hub import db
    from hub.models import ClaimMapping, Organisation

    names = dict(db.session().execute(select(Organisation.id, Organisation.name)).all())
    rows = [{"provider": m.provider, "claim": m.claim, "value": m.value, "org": names.get(m.org_id),
             "group": m.group_name}
            for m in db.session().scalars(select(ClaimMapping).order_by(ClaimMapping.provider, ClaimMapping.claim))]
    _emit(rows, as_json, ["provider", "claim", "value", "org", "group"])


@main.group()
def invite() -> None:
    """Invitations."""


@invite.command("create")
@click.option("--org", "org_name", required=True)
@click.option("--days", default=14, show_default=True, type=int)
@click.option("--email", help="Note whom the invitation is for.")
@_admin
def invite_create(org_name: str, days: int, email: str | None) -> None:
    """Create a one-time invitation code and print its sign-in link."""
    from flask import current_app

    from hub import audit, db, orgs

    with db.transaction() as session:
        code = orgs.create_invite(session, orgs.find_org(session, org_name), days=days, email=email)
    audit.record("invite.create", "success", actor="cli", detail={"org": org_name})
    click.echo(code)
    click.echo(f"{current_app.extensions['settings'].base_url}/login?invite={code}", err=True)


# --- users ------------------------------------------------------------------------------
@main.group()
def user() -> None:
    """Users."""


def _user_row(u: Any) -> dict[str, Any]:
    return {"id": u.id, "email": u.email, "email_verified": u.email_verified, "name": u.name,
            "org": u.org.name if u.org else None, "status": u.status, "admin": u.is_admin, "groups": u.groups,
            "identities": [{"provider": i.provider, "subject": i.subject} for i in u.identities]}


@user.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice(["active", "pending", "disabled"]))
@click.option("--search", help="Part of the email or name.")
@_admin
def user_list(as_json: bool, status: str | None, search: str | None) -> None:
    """List users with their organisation, status and identities."""
    from sqlalchemy import or_

    from hub import db
    from hub.models import User

    query = select(User).order_by(User.id)
    if status:
        query = query.where(User.status == status)
    if search:
        # autoescape: a % or _ in --search is that character, not a LIKE wildcard
        query = query.where(or_(User.email.icontains(search, autoescape=True),
                                User.name.icontains(search, autoescape=True)))
    rows = [_user_row(u) for u in db.session().scalars(query)]
    _emit(rows if as_json else [{**r, "identities": [i["provider"] for i in r["identities"]]} for r in rows],
          as_json, ["id", "email", "email_verified", "org", "status", "identities"])


def _set_user(email: str, action: str, change: Callable[[Any], None], org_id: int | None = None) -> None:
    from sqlalchemy import func

    from hub import audit, db
    from hub.models import User

    with db.transaction() as session:
        found = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        if found is None:
            raise HubError(f"no user with email {email}")
        change(found)
    audit.record(f"user.{action}", "success", actor="cli", user_id=found.id, org_id=org_id or found.org_id)
    click.echo(f"{email}: {action}")


@user.command("approve")
@click.argument("email")
@_admin
def user_approve(email: str) -> None:
    """Approve a pending user."""
    def change(u: Any) -> None:
        if u.status != "pending":
            raise HubError(f"{email} is {u.status}, not pending")
        u.status = "active"

    _set_user(email, "approve", change)


@user.command("disable")
@click.argument("email")
@_admin
def user_disable(email: str) -> None:
    """Disable a user: sessions, refresh tokens, waiting posts and provider tokens end at once."""
    def change(u: Any) -> None:
        from hub import db, deprovision

        deprovision.disable(db.session(), u, actor="cli", reason="cli")

    _set_user(email, "disable", change)


@user.command("enable")
@click.argument("email")
@_admin
def user_enable(email: str) -> None:
    """Enable a disabled user again."""
    def change(u: Any) -> None:
        u.status = "active"

    _set_user(email, "enable", change)


@user.command("reject")
@click.argument("email")
@_admin
def user_reject(email: str) -> None:
    """Reject a pending user (the account is disabled)."""
    def change(u: Any) -> None:
        if u.status != "pending":
            raise HubError(f"{email} is {u.status}, not pending")
        u.status = "disabled"

    _set_user(email, "reject", change)


@user.command("admin")
@click.argument("email")
@click.option("--org", "org_name", help="Make them an admin of this organisation only (docs/tenancy.md).")
@click.option("--revoke", is_flag=True)
@_admin
def user_admin(email: str, org_name: str | None, revoke: bool) -> None:
    """Grant (or --revoke) the hub admin role, or with --org an organisation's admin role."""
    from hub import db, tenancy

    if org_name is None:
        def change(u: Any) -> None:
            from hub.auth.sessions import end_all_sessions

            if u.is_admin == revoke:  # a change of role ends the user's sessions
                u.is_admin = not revoke
                end_all_sessions(db.session(), u)

        _set_user(email, "admin-revoke" if revoke else "admin-grant", change)
        return
    org = tenancy.find_orgs(db.session(), [org_name])[0]

    def change_org(u: Any) -> None:
        from hub.auth.sessions import end_all_sessions

        if tenancy.set_org_admin(db.session(), u, org, grant=not revoke):  # a change of role ends their sessions
            end_all_sessions(db.session(), u)

    _set_user(email, "org-admin-revoke" if revoke else "org-admin-grant", change_org, org_id=org.id)


# --- LMS sources ----------------------------------------------------------------------------
@main.group()
def source() -> None:
    """LMS sources that send events (signed webhooks)."""


def _org_scope(action: Callable[..., Any]) -> Callable[..., Any]:
    """--org NAME (repeatable) or --all-orgs: which organisations a credential reaches (no default)."""
    action = click.option("--all-orgs", is_flag=True, help="Reach every organisation (say it explicitly).")(action)
    return click.option("--org", "org_names", multiple=True, metavar="NAME",
                        help="An organisation it reaches (repeatable).")(action)


@source.command("add")
@click.argument("name")
@click.option("--home-page", help="The LMS's URL that names its user ids (default: the source name).")
@click.option("--xapi", is_flag=True, help="Also print xAPI credentials (Basic key/secret and a Bearer token).")
@_org_scope
@_admin
def source_add(name: str, home_page: str | None, xapi: bool, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Create a source and print its webhook secret (shown once: give it to the LMS)."""
    from flask import current_app

    from hub import audit, db, sources, tenancy
    from webhooks.xapi.auth import issue_credentials

    with db.transaction() as session:
        orgs = tenancy.find_orgs(session, org_names)
        added, secret = sources.add_source(session, current_app.extensions["vault"], name, home_page, orgs=orgs,
                                           all_orgs=all_orgs)
        credentials = issue_credentials(added) if xapi else None
    audit.record("source.add", "success", actor="cli", detail={"source": added.name, "xapi": xapi,
                                                                "orgs": "all" if all_orgs else list(org_names)})
    click.echo(secret)
    click.echo(f"endpoint: {current_app.extensions['settings'].base_url}/webhooks/lms/{added.name}", err=True)
    if credentials is not None:  # shown once: only their hashes are stored
        click.echo(f"xapi key: {credentials.key}")
        click.echo(f"xapi secret: {credentials.secret}")
        click.echo(f"xapi bearer: {credentials.bearer}")
        click.echo(f"xapi endpoint: {current_app.extensions['settings'].base_url}/xapi/ (docs/xapi.md)", err=True)


@source.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin
def source_list(as_json: bool) -> None:
    """List sources (secrets are never shown, only how many are valid)."""
    import dataclasses

    from flask import current_app

    from hub import db, sources

    rows = [dataclasses.asdict(info) for info in sources.list_sources(db.session(), current_app.extensions["vault"])]
    _emit(rows, as_json, ["name", "enabled", "orgs", "home_page", "webhook_secrets", "xapi", "created_at"])
    _flag_migrated(rows, "source", "hub source scope NAME --org ORG")


def _flag_migrated(rows: list[dict[str, Any]], what: str, fix: str) -> None:
    """Credentials older than tenancy reach every organisation: say so, and how to narrow them (on stderr)."""
    migrated = [str(row["name"]) for row in rows if row.get("all_orgs_by_migration")]
    if migrated:
        click.echo(f"warning: {len(migrated)} {what}(s) reach every organisation because they predate "
                   f"organisation scoping: {', '.join(migrated)}. Narrow each with: {fix} (or confirm with "
                   "--all-orgs). docs/tenancy.md", err=True)


@source.command("scope")
@click.argument("name")
@_org_scope
@_admin
def source_scope(name: str, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Set the organisations whose learners the source's events may name."""
    from hub import audit, db, sources, tenancy

    with db.transaction() as session:
        sources.set_orgs(session, name, tenancy.find_orgs(session, org_names), all_orgs)
    reach = "all organisations" if all_orgs else ", ".join(org_names)
    audit.record("source.scope", "success", actor="cli", detail={"source": name,
                                                                  "orgs": "all" if all_orgs else list(org_names)})
    click.echo(f"source {name}: reaches {reach}")


@source.command("rotate")
@click.argument("name")
@_admin
def source_rotate(name: str) -> None:
    """Add a new webhook secret and print it; the old ones stay valid until retire-secrets."""
    from flask import current_app

    from hub import audit, db, sources

    with db.transaction() as session:
        secret = sources.rotate_secret(session, current_app.extensions["vault"], name)
    audit.record("source.rotate", "success", actor="cli", detail={"source": name})
    click.echo(secret)
    click.echo(f"old secrets stay valid until: hub source retire-secrets {name}", err=True)


@source.command("retire-secrets")
@click.argument("name")
@_admin
def source_retire_secrets(name: str) -> None:
    """Keep only the newest webhook secret."""
    from flask import current_app

    from hub import audit, db, sources

    with db.transaction() as session:
        retired = sources.retire_secrets(session, current_app.extensions["vault"], name)
    audit.record("source.retire-secrets", "success", actor="cli", detail={"source": name, "retired": retired})
    click.echo(f"source {name}: {retired} old secret(s) retired")


@source.command("disable")
@click.argument("name")
@_admin
def source_disable(name: str) -> None:
    """Refuse a source's events (401, as for an unknown source)."""
    _switch_source(name, enabled=False)


@source.command("enable")
@click.argument("name")
@_admin
def source_enable(name: str) -> None:
    """Accept a disabled source's events again."""
    _switch_source(name, enabled=True)


def _switch_source(name: str, enabled: bool) -> None:
    from hub import audit, db, sources

    change = "enable" if enabled else "disable"
    with db.transaction() as session:
        sources.set_enabled(session, name, enabled)
    audit.record(f"source.{change}", "success", actor="cli", detail={"source": name})
    click.echo(f"source {name} {change}d")


# --- audit log ----------------------------------------------------------------------------
@main.group("audit")
def audit_group() -> None:
    """The audit log."""


@audit_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--action")
@click.option("--outcome")
@click.option("--ref", help="The reference a user quoted.")
@click.option("--limit", default=50, show_default=True, type=int)
@_admin
def audit_list(as_json: bool, action: str | None, outcome: str | None, ref: str | None, limit: int) -> None:
    """Audit events, newest first."""
    from hub import db
    from hub.models import AuditEvent

    query = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
    for column, value in ((AuditEvent.action, action), (AuditEvent.outcome, outcome), (AuditEvent.ref, ref)):
        if value:
            query = query.where(column == value)
    rows = [{"at": e.at.isoformat(), "ref": e.ref, "action": e.action, "outcome": e.outcome, "actor": e.actor,
             "user_id": e.user_id, "provider": e.provider, "reason": e.reason, "ip": e.ip, "detail": e.detail}
            for e in db.session().scalars(query)]
    _emit(rows, as_json, ["at", "ref", "action", "outcome", "actor", "user_id", "provider", "reason"])


# --- sharing: rules, deliveries, reconciler -----------------------------------------------
@main.group()
def rule() -> None:
    """Sharing rules: which events go where, with what message."""


@rule.command("add")
@click.option("--org", "org_name", required=True, help="Organisation name, or '*' for every organisation.")
@click.option("--on", "event_type", required=True, help="course.enrolled, course.completed, badge.awarded, ...")
@click.option("--to", "destination", required=True, help="slack:#wins, yammer:123, teams:https://..., linkedin:me, "
              "x:me, webhook:https://...")
@click.option("--template", "template_file", type=click.File("r", encoding="utf-8"),
              help="A Jinja template file for the message (sandboxed); default: the built-in one.")
@click.option("--mode", type=click.Choice(["immediate", "hourly", "daily", "automatic"]), default="immediate",
              show_default=True, help="immediate: one post per event; hourly/daily: one digest per period; "
              "automatic: immediate until the channel's backlog passes --max-delay, then folded into a digest.")
@click.option("--max-delay", "max_delay", type=int, default=None,
              help="automatic mode: seconds a post may wait behind the destination's backlog (default 600).")
@click.option("--course", "courses", multiple=True, help="Only these course ids (repeatable).")
@click.option("--badge", "badges", multiple=True, help="Only these badge ids (repeatable).")
@_admin
def rule_add(org_name: str, event_type: str, destination: str, template_file: Any, mode: str,
             max_delay: int | None, courses: tuple[str, ...], badges: tuple[str, ...]) -> None:
    """Add a sharing rule."""
    from hub import audit, db, orgs
    from hub.sharing import rules

    with db.transaction() as session:
        org_id = None if org_name == "*" else orgs.find_org(session, org_name).id
        added = rules.add_rule(session, org_id=org_id, event_type=event_type, destination=destination,
                               template=template_file.read() if template_file else None, mode=mode,
                               courses=courses, badges=badges, max_delay_seconds=max_delay)
    audit.record("rule.add", "success", actor="cli",
                 detail={"rule": added.id, "org": org_name, "on": event_type, "to": added.destination})
    note = rules.admin_note(added.destination)
    if note:
        click.echo(f"note: {note}", err=True)
    click.echo(f"rule {added.id}: {event_type} -> {added.destination} ({mode})")


@rule.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin
def rule_list(as_json: bool) -> None:
    """List sharing rules."""
    from hub import db
    from hub.models import Organisation, Rule

    names = dict(db.session().execute(select(Organisation.id, Organisation.name)).all())
    rows = [{"id": r.id, "org": names.get(r.org_id, "*") if r.org_id else "*", "on": r.event_type,
             "to": r.destination, "mode": r.mode, "max_delay": r.max_delay_seconds, "enabled": r.enabled,
             "filters": r.filters, "template": r.template}
            for r in db.session().scalars(select(Rule).order_by(Rule.id))]
    _emit(rows, as_json, ["id", "org", "on", "to", "mode", "enabled", "filters"])


@rule.command("preview")
@click.argument("rule_id", type=ROW_ID)
@_admin
def rule_preview(rule_id: int) -> None:
    """Show the message a rule would post, on a sample event."""
    from hub import db
    from hub.models import Rule
    from hub.sharing import rules, templates

    found = db.session().get(Rule, rule_id)
    if found is None:
        raise HubError(f"no rule with id {rule_id}")
    own = rules.parse_destination(found.destination).on_learner_account
    click.echo(templates.preview(found.template, found.event_type, own_account=own))


@main.group()
def delivery() -> None:
    """The outbox of posts."""


def _delivery_row(d: Any) -> dict[str, Any]:
    return {"id": d.id, "event": d.event_id, "rule": d.rule_id, "destination": d.destination, "status": d.status,
            "attempts": d.attempts, "next_attempt_at": d.next_attempt_at.isoformat() if d.next_attempt_at else None,
            "last_error": d.last_error, "remote_url": d.remote_url, "digest": d.digest_id}


@delivery.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice(["pending", "sending", "sent", "failed", "dead", "unknown", "skipped",
                                             "held", "folded"]))
@click.option("--limit", default=200, show_default=True, type=int)
@_admin
def delivery_list(as_json: bool, status: str | None, limit: int) -> None:
    """Deliveries, newest first: status, attempts, next attempt, last error, remote URL."""
    from hub import db
    from hub.models import Delivery

    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if status:
        query = query.where(Delivery.status == status)
    rows = [_delivery_row(d) for d in db.session().scalars(query)]
    _emit(rows, as_json, ["id", "event", "rule", "destination", "status", "attempts", "next_attempt_at",
                          "last_error", "remote_url", "digest"])


@delivery.command("retry")
@click.argument("delivery_id", type=ROW_ID)
@_admin
def delivery_retry(delivery_id: int) -> None:
    """Send a dead, unknown or failed delivery again (now, with fresh attempts)."""
    from hub import audit, db
    from hub.sharing import dispatch, outbox

    with db.transaction() as session:
        outbox.retry(session, delivery_id)
    queued = dispatch.dispatch(db.session(), [delivery_id])
    audit.record("delivery.retry", "success", actor="cli", detail={"delivery": delivery_id})
    click.echo(f"delivery {delivery_id} pending" + ("" if queued else " (Redis is down: the reconciler will send it)"))


@main.command("reconcile")
@_admin
def reconcile_command() -> None:
    """Re-enqueue deliveries whose job was lost and look up crashed sends, once (workers do it every minute)."""
    from hub import db
    from hub.sharing import reconciler

    report = reconciler.reconcile(db.session())
    click.echo(f"enqueued {report.enqueued}, recovered {report.recovered}")


# --- tiles: homepage feeds ----------------------------------------------------------------
# The flag that carries a tile's address, by what its reader says the address is (address_label).
TILE_ADDRESS_FLAGS = {"query": "query", "user": "query", "url": "url", "site": "url", "channel": "channel",
                      "group": "group"}


@main.group()
def tile() -> None:
    """Homepage tiles: external feeds shown inside the LMS."""


@tile.command("add")
@click.option("--kind", required=True, help="rss, x:search, x:user, yammer:group, slack:channel, sharepoint:news")
@click.option("--title", required=True, help="The tile's heading on the LMS page.")
@click.option("--query", help="x:search: the search query; x:user: the account.")
@click.option("--url", help="rss: the feed URL; sharepoint:news: the site URL.")
@click.option("--channel", help="slack:channel: the public channel (id or #name).")
@click.option("--group", help="yammer:group: the group (community) id.")
@click.option("--org", "org_name", help="The organisation whose connection the tile reads through.")
@click.option("--audience", "audience", multiple=True,
              help="Only users of this organisation see the tile (repeatable); default: all users.")
@click.option("--refresh", "refresh_seconds", type=int, default=None,
              help="Seconds between refreshes (default 300, at least the provider's minimum).")
@click.option("--max-items", "max_items", type=int, default=10, show_default=True, help="Items kept and shown.")
@_admin
def tile_add(kind: str, title: str, query: str | None, url: str | None, channel: str | None, group: str | None,
             org_name: str | None, audience: tuple[str, ...], refresh_seconds: int | None, max_items: int) -> None:
    """Add a tile; it is refreshed by the next worker pass (or now, with `hub tile refresh ID`)."""
    from hub import audit, db, orgs
    from hub.tiles import store

    given = {flag: value for flag, value in (("query", query), ("url", url), ("channel", channel),
                                              ("group", group)) if value is not None}
    expected = TILE_ADDRESS_FLAGS.get(store.address_label(kind.strip().lower()), "query")
    if list(given) != [expected]:
        extra = "" if not given else f", not {' '.join('--' + g for g in given)}"
        raise HubError(f"kind {kind} takes exactly one --{expected}{extra}")
    with db.transaction() as session:
        try:
            org_id = orgs.find_org(session, org_name).id if org_name else None
        except HubError as exc:
            raise HubError(f"--org: {exc}") from None
        try:
            audience_ids = [orgs.find_org(session, name).id for name in audience]
        except HubError as exc:
            raise HubError(f"--audience: {exc}") from None
        added = store.create_tile(session, kind=kind, title=title, address=given[expected], org_id=org_id,
                                  audience=audience_ids, refresh_seconds=refresh_seconds, max_items=max_items)
    audit.record("tile.add", "success", actor="cli",
                 detail={"tile": added.id, "kind": added.kind, "address": added.address, "org": org_name})
    click.echo(f"tile {added.id}: {added.kind} {added.address} (every {added.refresh_seconds} s, "
               f"{added.max_items} items, for {', '.join(audience) or 'all users'})")


@tile.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin
def tile_list(as_json: bool) -> None:
    """List tiles with their refresh state (stale tiles show their last error)."""
    from hub import db
    from hub.models import Organisation
    from hub.tiles import store

    session = db.session()
    names = dict(session.execute(select(Organisation.id, Organisation.name)).all())
    rows = [store.describe(t, store.audience_of(session, t.id), names) for t in store.list_tiles(session)]
    _emit(rows, as_json, ["id", "kind", "title", "address", "org", "audience", "refresh_seconds", "max_items",
                          "enabled", "stale", "fetched_at", "last_error"])


@tile.command("remove")
@click.argument("tile_id", type=int)
@_admin
def tile_remove(tile_id: int) -> None:
    """Remove a tile and its stored items; LMS pages stop showing it at once, as after the admin page's Delete."""
    import redis

    from hub import audit, db
    from hub.tiles import cache, store

    with db.transaction() as session:
        store.delete_tile(session, tile_id)
    audit.record("tile.remove", "success", actor="cli", detail={"tile": tile_id})
    try:
        cache.forget(tile_id)  # else the serving pointer answers for up to cache.POINTER_TTL seconds
    except redis.exceptions.RedisError as exc:
        click.echo(f"warning: the tile cache was not told ({type(exc).__name__}); LMS pages stop showing the tile "
                   f"within {cache.POINTER_TTL} s", err=True)
    click.echo(f"tile {tile_id} removed")


@tile.command("refresh")
@click.argument("tile_id", type=int)
@_admin
def tile_refresh(tile_id: int) -> None:
    """Refresh a tile now, in this process, and print the outcome (exit 1 if it failed)."""
    from hub import db
    from hub.tiles import refresh, store

    store.get_tile(db.session(), tile_id)
    result = refresh.refresh_tile(db.session(), tile_id)
    line = f"tile {tile_id}: {result.outcome.value}"
    if result.added:
        line += f", {result.added} new item{'s' if result.added != 1 else ''}"
    if result.next_refresh_at is not None:
        line += f"; next refresh {result.next_refresh_at.isoformat(timespec='seconds')}"
    if result.error:
        raise HubError(f"{line}: {result.error}")
    click.echo(line)


# --- API tokens (SCIM) and erasure ---------------------------------------------------------
@main.group()
def token() -> None:
    """API tokens for machine clients (SCIM)."""


@token.command("create")
@click.option("--scope", required=True, type=click.Choice(["scim"]))
@click.option("--name", help="A name to tell it apart (default: scim-N).")
@click.option("--expires-days", type=int, help="Expire after this many days (default: never).")
@click.option("--home-page", help="The LMS's account homePage: SCIM externalIds are the LMS's ids there.")
@click.option("--source", "source_name", help="Take the home page from this xAPI source.")
@_org_scope
@_admin
def token_create(scope: str, name: str | None, expires_days: int | None, home_page: str | None,
                 source_name: str | None, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Create a token and print it once (only its SHA-256 is kept)."""
    from hub import audit, db, tenancy, tokens

    with db.transaction() as session:
        created = tokens.create(session, scope=scope, name=name, expires_days=expires_days, home_page=home_page,
                                source=source_name, orgs=tenancy.find_orgs(session, org_names), all_orgs=all_orgs)
    audit.record("token.create", "success", actor="cli", detail={
        "token_id": created.id, "name": created.name, "scope": scope, "orgs": "all" if all_orgs else list(org_names)})
    click.echo(created.secret)
    click.echo(f"token {created.name} (id {created.id}): copy it now, it is not shown again", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin
def token_list(as_json: bool) -> None:
    """List tokens (prefix only, never the secret)."""
    from hub import db, tenancy, tokens

    session = db.session()
    rows = [{"id": t.id, "name": t.name, "scope": t.scope, "prefix": t.prefix, "home_page": t.home_page,
             "orgs": tenancy.org_names(session, tenancy.of_token(session, t)),
             "all_orgs_by_migration": t.all_orgs_by_migration,
             "created_at": t.created_at, "expires_at": t.expires_at, "last_used_at": t.last_used_at,
             "revoked_at": t.revoked_at} for t in tokens.listing(session)]
    _emit(rows, as_json, ["id", "name", "scope", "orgs", "prefix", "expires_at", "last_used_at", "revoked_at"])
    _flag_migrated([r for r in rows if r["revoked_at"] is None], "token", "hub token scope ID --org ORG")


@token.command("scope")
@click.argument("token_id", type=ROW_ID)
@_org_scope
@_admin
def token_scope(token_id: int, org_names: tuple[str, ...], all_orgs: bool) -> None:
    """Set the organisations a token reaches."""
    from hub import audit, db, tenancy, tokens

    with db.transaction() as session:
        token = tokens.find(session, token_id)
        tenancy.scope_token(session, token, tenancy.find_orgs(session, org_names), all_orgs)
        name = token.name
    audit.record("token.scope", "success", actor="cli", detail={"token_id": token_id, "name": name,
                                                                 "orgs": "all" if all_orgs else list(org_names)})
    click.echo(f"token {name} (id {token_id}): reaches {'all organisations' if all_orgs else ', '.join(org_names)}")


@token.command("revoke")
@click.argument("token_id", type=ROW_ID)
@_admin
def token_revoke(token_id: int) -> None:
    """Revoke a token at once."""
    from hub import audit, db, tokens

    with db.transaction() as session:
        revoked = tokens.revoke(session, token_id)
    audit.record("token.revoke", "success", actor="cli", detail={"token_id": token_id, "name": revoked.name})
    click.echo(f"token {revoked.name} (id {token_id}) revoked")


@user.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_admin
def user_erase(email: str, yes: bool) -> None:
    """Erase a user (GDPR): identities, tokens, waiting posts and personal data go; the audit keeps a pseudonym."""
    from sqlalchemy import func

    from hub import db, deprovision
    from hub.models import User

    if not yes:
        click.confirm(f"Erase {email} for good?", abort=True)
    with db.transaction() as session:
        found = session.scalar(select(User).where(func.lower(User.email) == email.lower()))
        if found is None:
            raise HubError(f"no user with email {email}")
        alias = deprovision.erase(session, found, actor="cli")
    click.echo(f"user {found.id} erased (pseudonym {alias[:16]})")


# --- OpenID Provider: LMS clients and signing keys (hub.idp) ------------------------------------
@main.group()
def client() -> None:
    """LMSs that sign users in through the hub (OpenID Connect clients)."""


def _print_issued(issued: Any, verb: str) -> None:
    from flask import current_app

    base = current_app.extensions["settings"].base_url
    click.echo(f"client {issued.client.name} {verb}")
    click.echo(f"  issuer:        {base}")
    click.echo(f"  discovery:     {base}/.well-known/openid-configuration")
    click.echo(f"  client_id:     {issued.client.client_id}")
    click.echo(f"  client_secret: {issued.secret}")
    click.echo("The secret is shown only now; store it in the LMS.")


@client.command("add")
@click.argument("name")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="Exact redirect URI (repeatable).")
@click.option("--post-logout-uri", "post_logout_uris", multiple=True, help="Allowed post_logout_redirect_uri.")
@click.option("--first-party", is_flag=True, help="Skip the consent screen (the organisation's own LMS).")
@_admin
def client_add(name: str, redirect_uris: tuple[str, ...], post_logout_uris: tuple[str, ...], first_party: bool) -> None:
    """Register an LMS and print its client id and secret (once)."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        issued = clients.add(session, name, list(redirect_uris), list(post_logout_uris), first_party)
    audit.record("idp.client.add", "success", actor="cli", detail={"client": name, "redirect_uris": redirect_uris})
    _print_issued(issued, "added")


@client.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin
def client_list(as_json: bool) -> None:
    """List registered clients (never their secrets)."""
    from hub import db
    from hub.idp import clients
    from hub.models import OAuthClient

    rows = [clients.describe(c) for c in db.session().scalars(select(OAuthClient).order_by(OAuthClient.name))]
    _emit(rows, as_json, ["name", "client_id", "redirect_uris", "post_logout_uris", "first_party", "revoked"])


@client.command("rotate-secret")
@click.argument("name")
@_admin
def client_rotate_secret(name: str) -> None:
    """Replace a client's secret; the old one stops working at once."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        issued = clients.rotate_secret(session, name)
    audit.record("idp.client.rotate_secret", "success", actor="cli", detail={"client": name})
    _print_issued(issued, "has a new secret")


@client.command("revoke")
@click.argument("name")
@_admin
def client_revoke(name: str) -> None:
    """Switch a client off: it can no longer authenticate and its tokens stop working."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        clients.revoke(session, name)
    audit.record("idp.client.revoke", "success", actor="cli", detail={"client": name})
    click.echo(f"client {name} revoked")


@client.command("remove")
@click.argument("name")
@_admin
def client_remove(name: str) -> None:
    """Delete a client with its codes, tokens and consents."""
    from hub import audit, db
    from hub.idp import clients

    with db.transaction() as session:
        clients.remove(session, name)
    audit.record("idp.client.remove", "success", actor="cli", detail={"client": name})
    click.echo(f"client {name} removed")


@main.group()
def key() -> None:
    """The IdP's ID token signing keys."""


@key.command("rotate")
@_admin
def key_rotate() -> None:
    """The published next key starts signing; the old one stays in JWKS until its tokens expired."""
    from flask import current_app

    from hub import audit, db
    from hub.idp import keys

    with db.transaction() as session:
        current, upcoming = keys.rotate(session, current_app.extensions["vault"])
    audit.record("idp.key.rotate", "success", actor="cli", detail={"current": current, "next": upcoming})
    click.echo(f"signing with {current}; published next {upcoming}")


@key.command("list")
@click.option("--json", "as_json", is_flag=True)
@_admin
def key_list(as_json: bool) -> None:
    """Keys with their state (next, current, retired) and dates."""
    from hub import db
    from hub.idp import keys

    _emit(keys.describe(db.session()), as_json, ["kid", "alg", "state", "created_at", "activated_at", "remove_after"])


# --- mail: the outbox of confirmation and notification mail ------------------------------------
@main.group("mail")
def mail_group() -> None:
    """Outgoing mail: each message, whether it was sent, and why not."""


@mail_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice(["pending", "sent", "failed"]))
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10000))
@_admin
def mail_list(as_json: bool, status: str | None, limit: int) -> None:
    """Messages, newest first: status, attempts, next attempt, last error (never the body)."""
    from hub import db, mail
    from hub.models import MailStatus

    rows = mail.listing(db.session(), MailStatus(status) if status else None, limit)
    _emit(rows, as_json, ["id", "to", "subject", "status", "attempts", "created_at", "sent_at", "next_attempt_at",
                          "last_error"])


# --- events: LMS events and their planning ------------------------------------------------------
@main.group("event")
def event_group() -> None:
    """Stored LMS events and whether they were planned into deliveries."""


@event_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.option("--status", type=click.Choice(["pending", "planned", "failed"]))
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10000))
@_admin
def event_list(as_json: bool, status: str | None, limit: int) -> None:
    """Events, newest first: planning status, failed attempts, next attempt, last error (never the payload)."""
    from hub import db
    from hub.sharing import events

    rows = events.listing(db.session(), events.PlanStatus(status) if status else None, limit)
    _emit(rows, as_json, ["id", "source", "external_id", "type", "status", "received_at", "plan_attempts",
                          "next_plan_at", "plan_error"])


@event_group.command("replan")
@click.argument("event_id", type=ROW_ID)
@_admin
def event_replan(event_id: int) -> None:
    """Plan a failed event again (due now, with fresh attempts): the dispatcher plans it on its next pass."""
    from hub import audit, db
    from hub.sharing import events

    with db.transaction() as session:
        events.replan(session, event_id)
    audit.record("event.replan", "success", actor="cli", detail={"event_id": event_id})
    click.echo(f"event {event_id} pending: a worker's dispatcher plans it on its next pass")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
