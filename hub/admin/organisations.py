"""Organisations page: add (hub admins), change policy, invitations, and claim mappings.

Organisation admins see only their organisations and the mappings into them; the rest answers 404."""
from __future__ import annotations

import re
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub import clock, db, deprovision, emails, orgs, tenancy
from hub.admin import bp
from hub.admin.access import console_required, hub_admin_required, new_org, reach, reachable
from hub.admin.common import actor, done, whole
from hub.models import ClaimMapping, Organisation, OrgDomain, OrgPolicy, ProviderConfig, User, UserStatus
from hub.sharing import budgets

POLICIES = list(OrgPolicy)
# orgs.py words its errors for the CLI; the form shows them in its own words, beside the field.
FIELD_OF_MESSAGE = (("NAME", "name"), ("organisation", "name"), ("--policy", "policy"), ("--domain", "domains"),
                    ("domain ", "domains"), ("a mapping", "org"), ("--provider", "provider"), ("--claim", "claim"),
                    ("--value", "value"), ("--group", "group"))
CLI_WORDS = (("NAME", "The name"), ("--policy", "Policy"), ("--domain", "Domain"), ("--provider: ", ""),
             ("--claim: ", ""), ("--value", "The value"), ("--group", "The group"))


def field_error(message: str) -> tuple[str, str]:
    """(field, message in the form's words) for an InvalidOrg message."""
    text = message
    for cli, words in CLI_WORDS:
        text = text.replace(cli, words)
    text = text[:1].upper() + text[1:]
    for prefix, field in FIELD_OF_MESSAGE:
        if message.startswith(prefix):
            return field, text
    return "form", text


def _provider_names() -> list[str]:
    return list(db.session().scalars(select(ProviderConfig.name).order_by(ProviderConfig.name)))


def _list_page(form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               mapping: dict[str, Any] | None = None, mapping_errors: dict[str, str] | None = None,
               status: int = 200) -> Any:
    session, mine = db.session(), reach()
    members = dict(session.execute(select(User.org_id, func.count()).where(mine.where(User.org_id))
                                   .group_by(User.org_id)).all())
    rows = list(session.scalars(select(Organisation).where(mine.where(Organisation.id)).order_by(Organisation.name)))
    mappings = list(session.scalars(select(ClaimMapping).where(mine.where(ClaimMapping.org_id))
                                    .order_by(ClaimMapping.provider, ClaimMapping.claim, ClaimMapping.value)))
    names = {org.id: org.name for org in rows}
    return render_template("admin/orgs.html", rows=rows, members=members, mappings=mappings, org_names=names,
                           policies=POLICIES, providers=_provider_names(),
                           provider_options=[(name, name) for name in _provider_names()],
                           org_options=[(str(org.id), org.name) for org in rows],
                           form=form or {"policy": "open"}, errors=errors or {},
                           mapping=mapping or {}, mapping_errors=mapping_errors or {}), status


@bp.get("/orgs")
@console_required
def orgs_page() -> Any:
    return _list_page()


@bp.post("/orgs")
@hub_admin_required
def org_add() -> Any:
    """Create an organisation with its email domains and, optionally, their home provider."""
    form = {key: request.form.get(key, "").strip() for key in ("name", "domains", "policy", "provider")}
    domains = [d for d in re.split(r"[\s,]+", form["domains"]) if d]
    try:
        with db.transaction() as session:
            added = orgs.add_org(session, form["name"], domains, form["policy"], form["provider"] or None)
    except orgs.InvalidOrg as exc:
        field, text = field_error(str(exc))
        done("org.add", "The organisation was not added: correct the field marked below.", outcome="failure",
             reason="invalid", detail={"org": form["name"], "error": text})
        return _list_page(form=form, errors={field: text}, status=400)
    done("org.add", f"Organisation {added.name} added ({added.policy}).",
         detail={"org": added.name, "policy": added.policy, "domains": domains}, org_id=added.id)
    return redirect(url_for("admin.org_detail", org_id=added.id), 303)


@bp.post("/mappings")
@console_required
def mapping_add() -> Any:
    """Map a provider claim value (Microsoft tid, Slack team, Google hd) to an organisation and/or group; an
    organisation admin maps only into their organisation (a mapping of no organisation is hub-level)."""
    mapping = {key: request.form.get(key, "").strip() for key in ("provider", "claim", "value", "org", "group")}
    errors = {key: f"{label} is required." for key, label in
              (("provider", "Provider"), ("claim", "Claim"), ("value", "Value")) if not mapping[key]}
    chosen = new_org(whole(mapping["org"]))
    org = db.session().get(Organisation, chosen) if chosen is not None else None
    org_id = org.id if org else None
    if not errors and _placed_elsewhere(mapping["provider"], mapping["claim"], mapping["value"]):
        errors["value"] = "This value already places people in another organisation: ask a hub admin."
    if not errors:
        try:
            with db.transaction() as session:
                orgs.add_mapping(session, mapping["provider"], mapping["claim"], mapping["value"], org,
                                 mapping["group"] or None)
        except orgs.InvalidOrg as exc:
            field, text = field_error(str(exc))
            errors["group" if field == "group" else "org"] = text
        except IntegrityError:
            errors["value"] = "This provider, claim, value and group are already mapped."
    detail = {k: mapping[k] for k in ("claim", "value", "group")} | {"org": org.name if org else None}
    if errors:
        done("org.map", "The mapping was not added: correct the fields marked below.", outcome="failure",
             provider=mapping["provider"] or None, reason="invalid", detail=detail | {"errors": errors}, org_id=org_id)
        return _list_page(mapping=mapping, mapping_errors=errors, status=400)
    done("org.map", f"Mapped {mapping['provider']} {mapping['claim']}={mapping['value']}.",
         provider=mapping["provider"], detail=detail, org_id=org_id)
    return redirect(url_for("admin.orgs_page") + "#mappings", 303)


def _placed_elsewhere(provider: str, claim: str, value: str) -> bool:
    """Would this claim value pull people out of an organisation beyond reach? A mapping wins over an email
    domain at sign-in (hub/auth/pipeline.py), so an organisation admin may not map a value that is another
    organisation's mapping or email domain."""
    mine, session = reach(), db.session()
    if mine.everything:
        return False
    mapped = select(ClaimMapping.id).where(ClaimMapping.provider == provider, ClaimMapping.claim == claim,
                                           ClaimMapping.value == value, ClaimMapping.org_id.is_not(None),
                                           ~mine.where(ClaimMapping.org_id))
    domain = select(OrgDomain.id).where(OrgDomain.domain == value.lower(), ~mine.where(OrgDomain.org_id))
    return session.scalar(mapped.limit(1)) is not None or session.scalar(domain.limit(1)) is not None


def _org(org_id: int) -> Organisation:
    return reachable(Organisation, org_id, org_of=lambda org: org.id)


def _detail_page(org: Organisation, invite: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                 status: int = 200) -> Any:
    session = db.session()
    members = session.scalar(select(func.count()).select_from(User).where(User.org_id == org.id)) or 0
    mappings = list(session.scalars(select(ClaimMapping).where(ClaimMapping.org_id == org.id)))
    return render_template("admin/org.html", org=org, members=members, mappings=mappings, policies=POLICIES,
                           invite=invite or {"days": "14"}, errors=errors or {}, budgets=_budgets(session, org)), \
        status


def _budgets(session: Session, org: Organisation) -> list[dict[str, str]]:
    """The organisation's monthly budgets for networks that bill posts, with this month's spend (hub org set)."""
    month = budgets.month_of(clock.now())
    return [{"network": budgets.label(kind), "budget": budgets.usd(amount), "month": month,
             "spent": budgets.usd(budgets.spent(session, org.id, kind, month))}
            for kind, amount in sorted(budgets.budgets_of(session, org.id).items())]


@bp.get("/orgs/<int:org_id>")
@console_required
def org_detail(org_id: int) -> Any:
    return _detail_page(_org(org_id))


@bp.post("/orgs/<int:org_id>/policy")
@console_required
def org_policy(org_id: int) -> Any:
    """Change who may join (closed also refuses existing members)."""
    org = _org(org_id)
    policy = request.form.get("policy", "")
    if policy not in POLICIES:
        done("org.policy", f"Choose one of: {', '.join(POLICIES)}.", outcome="failure", reason="invalid",
             detail={"org": org.name, "policy": policy[:40]}, org_id=org.id)
        return redirect(url_for("admin.org_detail", org_id=org.id), 303)
    if policy == OrgPolicy.CLOSED and _members_beyond_reach(org):
        done("org.policy", f"{org.name} has members with roles beyond it (hub admins or admins of other "
                           "organisations), whom closing would disable: ask a hub admin to close it.",
             outcome="failure", reason="refused", detail={"org": org.name, "policy": policy}, org_id=org.id)
        return redirect(url_for("admin.org_detail", org_id=org.id), 303)
    with db.transaction() as session:  # closing also disables its members (hub/deprovision.py)
        disabled = deprovision.apply_policy(session, org, policy, actor=actor())
    done("org.policy", f"{org.name} is now {policy}." + (f" {disabled} members disabled." if disabled else ""),
         detail={"org": org.name, "policy": policy, "disabled": disabled}, org_id=org.id)
    return redirect(url_for("admin.org_detail", org_id=org.id), 303)


def _members_beyond_reach(org: Organisation) -> bool:
    """Does the organisation have active members the signed-in admin may not disable (tenancy.users_within)?"""
    beyond = select(User.id).where(User.org_id == org.id, User.status != UserStatus.DISABLED,
                                   ~tenancy.users_within(reach()))
    return db.session().scalar(beyond.limit(1)) is not None


@bp.post("/orgs/<int:org_id>/invites")
@console_required
def invite_create(org_id: int) -> Any:
    """A one-time invitation: the code is shown in this response only (only its hash is stored)."""
    org = _org(org_id)
    invite = {"days": request.form.get("days", "").strip(), "email": request.form.get("email", "").strip()}
    errors = {}
    if not invite["days"].isdigit() or not 1 <= int(invite["days"]) <= 365:
        errors["days"] = "Days must be a whole number from 1 to 365."
    if invite["email"] and not emails.is_valid(invite["email"]):  # hub/emails.py, the policy sign-in matches by
        errors["email"] = "Enter an email address like name@example.com, or leave it empty."
    if errors:
        done("invite.create", "The invitation was not created: correct the fields marked below.",
             outcome="failure", reason="invalid", detail={"org": org.name}, org_id=org.id)
        return _detail_page(org, invite, errors, 400)
    with db.transaction() as session:
        code = orgs.create_invite(session, org, days=int(invite["days"]), email=invite["email"] or None)
    done("invite.create", f"Invitation created for {org.name}. Copy it now: it is shown only once.",
         detail={"org": org.name, "days": int(invite["days"]), "email": invite["email"] or None}, org_id=org.id)
    settings = current_app.extensions["settings"]
    invite |= {"code": code, "link": f"{settings.base_url}{url_for('auth.login_page', invite=code)}"}
    return _detail_page(org, invite)
