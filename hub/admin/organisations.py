"""Organisations page: add, change policy, invitations, and claim mappings."""
from __future__ import annotations

import re
from typing import Any

from flask import abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from hub import db, deprovision, orgs
from hub.admin import bp
from hub.admin.common import actor, done
from hub.auth.sessions import admin_required
from hub.models import ClaimMapping, Organisation, OrgPolicy, ProviderConfig, User

POLICIES = [policy.value for policy in OrgPolicy]
# orgs.py words its errors for the CLI; the form shows them in its own words, beside the field.
FIELD_OF_MESSAGE = (("NAME", "name"), ("organisation", "name"), ("--policy", "policy"), ("--domain", "domains"),
                    ("domain ", "domains"), ("a mapping", "org"), ("--provider", "provider"), ("--claim", "claim"),
                    ("--value", "value"))
CLI_WORDS = (("NAME", "The name"), ("--policy", "Policy"), ("--domain", "Domain"), ("--provider: ", ""),
             ("--claim: ", ""), ("--value", "The value"))


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
    session = db.session()
    members = dict(session.execute(select(User.org_id, func.count()).group_by(User.org_id)).all())
    rows = list(session.scalars(select(Organisation).order_by(Organisation.name)))
    mappings = list(session.scalars(select(ClaimMapping).order_by(ClaimMapping.provider, ClaimMapping.claim,
                                                                  ClaimMapping.value)))
    names = {org.id: org.name for org in rows}
    return render_template("admin/orgs.html", rows=rows, members=members, mappings=mappings, org_names=names,
                           policies=POLICIES, providers=_provider_names(),
                           provider_options=[(name, name) for name in _provider_names()],
                           org_options=[(str(org.id), org.name) for org in rows],
                           form=form or {"policy": "open"}, errors=errors or {},
                           mapping=mapping or {}, mapping_errors=mapping_errors or {}), status


@bp.get("/orgs")
@admin_required
def orgs_page() -> Any:
    return _list_page()


@bp.post("/orgs")
@admin_required
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
         detail={"org": added.name, "policy": added.policy, "domains": domains})
    return redirect(url_for("admin.org_detail", org_id=added.id), 303)


@bp.post("/mappings")
@admin_required
def mapping_add() -> Any:
    """Map a provider claim value (Microsoft tid, Slack team, Google hd) to an organisation and/or group."""
    mapping = {key: request.form.get(key, "").strip() for key in ("provider", "claim", "value", "org", "group")}
    errors = {key: f"{label} is required." for key, label in
              (("provider", "Provider"), ("claim", "Claim"), ("value", "Value")) if not mapping[key]}
    org = db.session().get(Organisation, int(mapping["org"])) if mapping["org"].isdigit() else None
    if not errors:
        try:
            with db.transaction() as session:
                orgs.add_mapping(session, mapping["provider"], mapping["claim"], mapping["value"], org,
                                 mapping["group"] or None)
        except orgs.InvalidOrg as exc:
            errors["org"] = field_error(str(exc))[1]
        except IntegrityError:
            errors["value"] = "This provider, claim, value and group are already mapped."
    detail = {k: mapping[k] for k in ("claim", "value", "group")} | {"org": org.name if org else None}
    if errors:
        done("org.map", "The mapping was not added: correct the fields marked below.", outcome="failure",
             provider=mapping["provider"] or None, reason="invalid", detail=detail | {"errors": errors})
        return _list_page(mapping=mapping, mapping_errors=errors, status=400)
    done("org.map", f"Mapped {mapping['provider']} {mapping['claim']}={mapping['value']}.",
         provider=mapping["provider"], detail=detail)
    return redirect(url_for("admin.orgs_page") + "#mappings", 303)


def _org(org_id: int) -> Organisation:
    org = db.session().get(Organisation, org_id)
    if org is None:
        abort(404)
    return org


def _detail_page(org: Organisation, invite: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                 status: int = 200) -> Any:
    session = db.session()
    members = session.scalar(select(func.count()).select_from(User).where(User.org_id == org.id)) or 0
    mappings = list(session.scalars(select(ClaimMapping).where(ClaimMapping.org_id == org.id)))
    return render_template("admin/org.html", org=org, members=members, mappings=mappings, policies=POLICIES,
                           invite=invite or {"days": "14"}, errors=errors or {}), status


@bp.get("/orgs/<int:org_id>")
@admin_required
def org_detail(org_id: int) -> Any:
    return _detail_page(_org(org_id))


@bp.post("/orgs/<int:org_id>/policy")
@admin_required
def org_policy(org_id: int) -> Any:
    """Change who may join (closed also refuses existing members)."""
    org = _org(org_id)
    policy = request.form.get("policy", "")
    if policy not in POLICIES:
        done("org.policy", f"Choose one of: {', '.join(POLICIES)}.", outcome="failure", reason="invalid",
             detail={"org": org.name, "policy": policy[:40]})
        return redirect(url_for("admin.org_detail", org_id=org.id), 303)
    with db.transaction() as session:  # closing also disables its members (hub/deprovision.py)
        disabled = deprovision.apply_policy(session, org, policy, actor=actor())
    done("org.policy", f"{org.name} is now {policy}." + (f" {disabled} members disabled." if disabled else ""),
         detail={"org": org.name, "policy": policy, "disabled": disabled})
    return redirect(url_for("admin.org_detail", org_id=org.id), 303)


@bp.post("/orgs/<int:org_id>/invites")
@admin_required
def invite_create(org_id: int) -> Any:
    """A one-time invitation: the code is shown in this response only (only its hash is stored)."""
    org = _org(org_id)
    invite = {"days": request.form.get("days", "").strip(), "email": request.form.get("email", "").strip()}
    errors = {}
    if not invite["days"].isdigit() or not 1 <= int(invite["days"]) <= 365:
        errors["days"] = "Days must be a whole number from 1 to 365."
    if invite["email"] and not orgs.email_domain(invite["email"]):
        errors["email"] = "Enter an email address like name@example.com, or leave it empty."
    if errors:
        done("invite.create", "The invitation was not created: correct the fields marked below.",
             outcome="failure", reason="invalid", detail={"org": org.name})
        return _detail_page(org, invite, errors, 400)
    with db.transaction() as session:
        code = orgs.create_invite(session, org, days=int(invite["days"]), email=invite["email"] or None)
    done("invite.create", f"Invitation created for {org.name}. Copy it now: it is shown only once.",
         detail={"org": org.name, "days": int(invite["days"]), "email": invite["email"] or None})
    settings = current_app.extensions["settings"]
    invite |= {"code": code, "link": f"{settings.base_url}{url_for('auth.login_page', invite=code)}"}
    return _detail_page(org, invite)
