"""Connecting accounts for posting: the sharing scopes are asked for here, never at sign-in.

GET /connect/<kind>?next=PATH starts the provider's flow (state in Redis bound to the browser, PKCE where the
provider does it); its callback stores the tokens sealed in a Connection, which is what
hub.provider_access opens, and returns to PATH (a same-origin path only, kept with the state: the account page
or the share page the learner started from; anything else goes to the account page). A kind connects through
its own configured app, or through the one it borrows (Yammer: the Microsoft app; providers.registry CONNECTORS).
A learner connects their own account; an admin installs the Slack app for the organisation. Disconnecting deletes
the row and skips the pending deliveries that needed it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub import audit, db, redirect_uris, tenancy
from hub.auth import state
from hub.auth.redirects import safe_next
from hub.auth.sessions import current_user, login_required
from hub.errors import HubError
from hub.models import Connection, Delivery, DeliveryStatus, ProviderConfig, User
from hub.provider_store import ProviderCache
from hub.sharing.rules import InvalidRule, parse_destination, posts_as_learner
from providers import registry
from providers.base import LoginError, Provider, ProviderError

bp = Blueprint("connect", __name__)
STATE_PREFIX = "connect:"
OPEN_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.FAILED)


@dataclass(frozen=True)
class ConnectOption:
    kind: str
    label: str
    connected: bool


def _redirect_uri(kind: str) -> str:
    """Built from HUB_BASE_URL, never from the Host header (hub.redirect_uris, which admins are shown)."""
    return redirect_uris.connect(current_app.extensions["settings"].base_url, kind)


def _provider(session: Session, kind: str) -> tuple[ProviderConfig, Provider] | None:
    """The enabled provider whose app connects this kind (its own, or the one it borrows), and the instance that
    runs the connect flow; None when the kind cannot be connected here."""
    try:
        connector = registry.connect_class(kind)
    except registry.UnknownKind:
        return None
    row = session.scalar(select(ProviderConfig).where(ProviderConfig.kind == registry.lender_of(kind),
                                                      ProviderConfig.enabled.is_(True)).order_by(ProviderConfig.id))
    if row is None:
        return None
    if connector.credentials_from is None:  # the sign-in provider itself: its cached instance (discovery, keys)
        return current_app.extensions["providers"].get(session, row.name)
    return row, connector(ProviderCache.settings_for(row))


def return_path(value: str | None) -> str:
    """Where a connect flow goes back to: a same-origin path (never another origin, not even an LMS's), else the
    account page."""
    return safe_next(value, ()) if value else url_for("account.overview")


def _for_org(kind: str) -> bool:
    """Learner kinds post as the learner; the others (Slack) post as the organisation's app."""
    return not posts_as_learner(kind)


def _org_accounts(kind: str) -> bool:
    """A learner kind whose organisation may connect an account of its own as well (?as=org): Viva Engage's service
    account, which posts to yammer:org:<group> (Yammer takes delegated tokens only, so it must be a user)."""
    return kind in registry.PUBLISHERS and registry.publisher_class(kind).org_prefix is not None


def _fail(message: str, *, code: str, kind: str, status: int = 400, back: str | None = None) -> tuple[str, int]:
    """The error page, audited; `back` (a checked same-origin path) leads to where the learner started."""
    db.session().rollback()
    ref = audit.record("connect", "failure", provider=kind, reason=code, detail={"message": message})
    back = back or url_for("account.overview")
    label = "Back to the share page" if back.startswith("/share/") else "Back"
    return render_template("error.html", title="Connecting failed", message=message, ref=ref, back=back,
                           back_label=label), status


@bp.get("/connect/<kind>")
@login_required
def begin(kind: str) -> Any:
    user = current_user()
    assert user is not None
    found = _provider(db.session(), kind)
    if found is None or not found[1].sharing_scopes:
        return _fail("That account cannot be connected for sharing here.", code="provider_unavailable", kind=kind,
                     status=404)
    as_org = _for_org(kind) or request.args.get("as") == "org"
    if as_org and not _for_org(kind) and not _org_accounts(kind):
        return _fail("That account cannot be connected for an organisation.", code="no_org_accounts", kind=kind)
    if as_org and not _manages_own_org(user):
        abort(403)
    instance = found[1]
    try:
        start = instance.begin_connect(_redirect_uri(kind))
    except ProviderError as exc:
        return _fail(f"{instance.brand.label} cannot be reached right now. Try again in a minute.", code=exc.code,
                     kind=kind, status=502, back=return_path(request.args.get("next")))
    state.save(start.state, state.PendingLogin(
        provider=STATE_PREFIX + kind, saved=dict(start.saved), next_url=return_path(request.args.get("next")),
        binding=state.browser_binding(), link_user_id=user.id,
        extra={"org_id": user.org_id if as_org else None}))
    return redirect(start.url)


@bp.get("/connect/<kind>/callback")
@login_required
def callback(kind: str) -> Any:
    user = current_user()
    assert user is not None
    pending = state.consume(request.args.get("state"))
    if pending is None or pending.provider != STATE_PREFIX + kind or pending.link_user_id != user.id:
        return _fail("This connection link is invalid or was already used. Please start again.",
                     code="invalid_state", kind=kind)
    found = _provider(db.session(), kind)
    if found is None:
        return _fail("That account cannot be connected for sharing here.", code="provider_unavailable", kind=kind,
                     status=404)
    instance = found[1]
    try:
        connected = instance.finish_connect(request.args, pending.saved, _redirect_uri(kind))
    except LoginError as exc:
        return _fail(exc.message, code=exc.code, kind=kind, back=pending.next_url)
    except ProviderError as exc:
        return _fail(f"{instance.brand.label} could not finish connecting. Please try again.", code=exc.code,
                     kind=kind, status=502, back=pending.next_url)
    org_id = pending.extra.get("org_id")
    session = db.session()
    owner = (Connection.org_id == org_id, Connection.user_id.is_(None)) if org_id else (Connection.user_id == user.id,)
    row = session.scalar(select(Connection).where(Connection.kind == kind, Connection.remote_id == connected.remote_id,
                                                  *owner))
    if row is None:
        row = Connection(kind=kind, user_id=None if org_id else user.id, org_id=org_id,
                         remote_id=connected.remote_id, tokens_sealed="")
        session.add(row)
    row.scopes = list(connected.scopes)
    row.tokens_sealed = current_app.extensions["vault"].seal(json.dumps(connected.tokens), row.seal_context)
    audit.record("connect", "success", user_id=user.id, actor=user.email, provider=kind,
                 detail={"remote_id": connected.remote_id, "org_id": org_id, "scopes": list(connected.scopes)},
                 commit=False)
    session.commit()
    flash(f"{instance.brand.label} connected for sharing.", "success")
    return redirect(pending.next_url)


@bp.post("/connect/<int:connection_id>/disconnect")
@login_required
def disconnect(connection_id: int) -> Any:
    """Delete the connection (tokens and all) and skip the deliveries still waiting for it."""
    user = current_user()
    assert user is not None
    session = db.session()
    row = session.get(Connection, connection_id)
    if row is None or not _may_manage(user, row):
        abort(404)
    kind = row.kind
    skipped = remove(session, row)
    audit.record("disconnect", "success", user_id=user.id, actor=user.email, provider=kind,
                 detail={"connection_id": connection_id, "skipped": skipped}, commit=False)
    session.commit()
    flash("Disconnected. Nothing more will be posted there.", "success")
    return redirect(url_for("account.overview"))


def remove(session: Session, row: Connection) -> int:
    """Revoke the tokens at the provider where it allows (best effort: the row goes anyway), delete the row, and
    skip the deliveries still waiting for it; returns how many were skipped. Disconnect and deprovisioning share it."""
    kind, org_id = row.kind, row.org_id if row.user_id is None else None
    user_id = row.user_id
    revoke_at_provider(_provider(session, row.kind), row.tokens_sealed, row.seal_context, f"connection {row.id}")
    session.delete(row)
    return skip_waiting(session, kind, user_id=None if org_id else user_id, org_id=org_id)


def revoke_at_provider(found: tuple[ProviderConfig, Provider] | None, sealed: str | None, seal_context: str,
                       label: str) -> bool:
    """Revoke a sealed token set where the provider can (Provider.revoke_connection); True if it did.

    Best effort: a failure is logged (never the tokens), not raised, so the caller deletes its copy all the same."""
    if found is None or not sealed:
        return False
    config, provider = found
    try:
        return provider.revoke_connection(json.loads(current_app.extensions["vault"].open(sealed, seal_context)))
    except (ProviderError, HubError, ValueError) as exc:
        current_app.logger.warning("revoking %s at %s failed: %s", label, config.name, exc)
        return False


def _may_manage(user: User, row: Connection) -> bool:
    """A learner's own connection is theirs alone; an organisation's is its admins' (hub/tenancy.py)."""
    if row.user_id is not None:
        return row.user_id == user.id
    return row.org_id is not None and tenancy.of_user(db.session(), user).allows(row.org_id)


def _manages_own_org(user: User) -> bool:
    """May user connect accounts for their organisation (a hub admin or that organisation's admin)?"""
    return user.org_id is not None and tenancy.of_user(db.session(), user).allows(user.org_id)


def skip_waiting(session: Session, kind: str, *, user_id: int | None, org_id: int | None) -> int:
    """Pending or retrying deliveries of this kind that needed the connection: skipped, with the reason."""
    query = select(Delivery.id, Delivery.destination).where(Delivery.status.in_(OPEN_STATUSES))
    if user_id is not None:
        query = query.where(Delivery.user_id == user_id)
    else:
        query = query.where(Delivery.user_id.in_(select(User.id).where(User.org_id == org_id)))
    ids = [delivery_id for delivery_id, destination in session.execute(query)
           if _needs_connection(destination, kind, learner=user_id is not None)]
    if not ids:
        return 0
    session.execute(update(Delivery).where(Delivery.id.in_(ids), Delivery.status.in_(OPEN_STATUSES))
                    .values(status=DeliveryStatus.SKIPPED,
                            last_error=f"skipped: the {kind} account was disconnected")
                    .execution_options(synchronize_session=False))
    return len(ids)


def _needs_connection(destination: str, kind: str, *, learner: bool) -> bool:
    try:
        parsed = parse_destination(destination)
    except InvalidRule:
        return False
    return parsed.kind == kind and not parsed.is_url and parsed.on_learner_account == learner


@bp.app_context_processor
def _connections_for_template() -> dict[str, Any]:
    return {"sharing_connections": connections_view, "scope_words": scope_words}


def scope_words(kind: str, scopes: list[str]) -> list[str]:
    """A connection's scopes in the words its provider declares (Provider.scope_words); others as they are."""
    try:
        words = registry.connect_class(kind).scope_words
    except registry.UnknownKind:
        words = {}
    return list(dict.fromkeys(words.get(scope, scope) for scope in scopes))


def connections_view(user: User) -> dict[str, Any]:
    """What the account page shows: the user's (and, for admins, the org's) connections and what can be added."""
    session = db.session()
    mine = list(session.scalars(select(Connection).where(Connection.user_id == user.id).order_by(Connection.id)))
    org: list[Connection] = []
    manages_org = _manages_own_org(user)
    if manages_org:
        org = list(session.scalars(select(Connection).where(Connection.user_id.is_(None),
                                                            Connection.org_id == user.org_id).order_by(Connection.id)))
    learner, admin, service = [], [], []
    for option in _options(session, {c.kind for c in mine}, {c.kind for c in org}):
        if not _for_org(option.kind):
            learner.append(option)
            if manages_org and _org_accounts(option.kind):  # the organisation's own account of a learner kind
                service.append(ConnectOption(option.kind, option.label, option.kind in {c.kind for c in org}))
        elif manages_org:
            admin.append(option)
    return {"mine": mine, "org": org, "learner": learner, "admin": admin, "service": service}


def _options(session: Session, mine: set[str], org: set[str]) -> list[ConnectOption]:
    """Each kind that can be connected here (its app, or the app it borrows, is configured and enabled)."""
    configured = {row.kind: row for row in session.scalars(
        select(ProviderConfig).where(ProviderConfig.enabled.is_(True)).order_by(ProviderConfig.id.desc()))}
    options = []
    for kind in registry.connect_kinds():
        row = configured.get(registry.lender_of(kind))
        if row is None:
            continue
        label = registry.connect_class(kind).brand_for(row.name, row.options or {}).label
        options.append(ConnectOption(kind, label, kind in (org if _for_org(kind) else mine)))
    return options


def option_for(user: User, kind: str) -> ConnectOption | None:
    """Whether the learner's own account of this kind is connected, and its label; None when it cannot be connected
    here (no configured app). The share page asks this for its destination."""
    session = db.session()
    mine = set(session.scalars(select(Connection.kind).where(Connection.user_id == user.id)))
    return next((option for option in _options(session, mine, set()) if option.kind == kind), None)
