"""Organisations, their email domains, claim mappings and invitations."""
from __future__ import annotations

import re
from datetime import UTC, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub import clock, emails, names
from hub.crypto import new_token, token_hash
from hub.errors import HubError
from hub.models import ClaimMapping, Invite, Organisation, OrgDomain, OrgPolicy, ProviderConfig
from providers import registry

DOMAIN_PATTERN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


class InvalidOrg(HubError):
    """Admin input for an organisation is wrong; the message says which part."""


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return email.rsplit("@", 1)[1].strip().lower()


def add_org(db: Session, name: str, domains: list[str], policy: str, provider: str | None = None) -> Organisation:
    """Create an organisation with its domains (each optionally mapped to a home provider)."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidOrg("NAME must be 1 to 200 characters")
    if hidden := names.problem(name, "NAME"):
        raise InvalidOrg(hidden)
    if policy not in set(OrgPolicy):
        raise InvalidOrg(f"--policy must be one of {', '.join(OrgPolicy)}")
    if db.scalar(select(Organisation).where(Organisation.name == name)):
        raise InvalidOrg(f"organisation {name!r} already exists")
    # Home-realm discovery sends users to this provider: a typo would send them to a 404.
    if provider is not None and db.scalar(select(ProviderConfig).where(ProviderConfig.name == provider)) is None:
        raise InvalidOrg(f"--provider: no provider called {provider!r} (add it first with `hub provider add`)")
    org = Organisation(name=name, policy=OrgPolicy(policy))
    for domain in domains:
        org.domains.append(_domain(db, domain, provider))
    db.add(org)
    return org


def _domain(db: Session, domain: str, provider: str | None) -> OrgDomain:
    domain = domain.strip().lower()
    if not DOMAIN_PATTERN.match(domain):
        raise InvalidOrg(f"--domain {domain!r} is not a domain name")
    if db.scalar(select(OrgDomain).where(OrgDomain.domain == domain)):
        raise InvalidOrg(f"domain {domain} already belongs to an organisation")
    return OrgDomain(domain=domain, provider=provider)


def find_org(db: Session, name: str) -> Organisation:
    org = db.scalar(select(Organisation).where(Organisation.name == name))
    if org is None:
        raise InvalidOrg(f"no organisation called {name!r}")
    return org


def org_for_domain(db: Session, domain: str | None) -> OrgDomain | None:
    if not domain:
        return None
    return db.scalar(select(OrgDomain).where(OrgDomain.domain == domain))


def add_mapping(db: Session, provider: str, claim: str, value: str, org: Organisation | None,
                group: str | None) -> ClaimMapping:
    """Map a provider's claim value to an organisation and/or group, refusing one that could never match."""
    if org is None and not group:
        raise InvalidOrg("a mapping needs an organisation or a group")
    if group and (hidden := names.problem(group, "--group")):
        raise InvalidOrg(hidden)
    row = db.scalar(select(ProviderConfig).where(ProviderConfig.name == provider))
    if row is None:
        raise InvalidOrg(f"--provider: no provider called {provider!r} (add it first with `hub provider add`)")
    hints = registry.provider_class(row.kind).hint_names
    if claim not in hints:
        offered = ", ".join(hints) if hints else "none"
        raise InvalidOrg(f"--claim: {row.kind} providers offer {offered}, not {claim!r}")
    if not value.strip():
        raise InvalidOrg("--value must not be empty")
    duplicate = db.scalar(select(ClaimMapping).where(
        ClaimMapping.provider == provider, ClaimMapping.claim == claim, ClaimMapping.value == value,
        ClaimMapping.org_id == org.id if org else ClaimMapping.org_id.is_(None),
        ClaimMapping.group_name == group if group else ClaimMapping.group_name.is_(None)))
    if duplicate is not None:
        raise InvalidOrg("that mapping already exists")
    mapping = ClaimMapping(provider=provider, claim=claim, value=value, org_id=org.id if org else None,
                           group_name=group)
    db.add(mapping)
    return mapping


def mappings_for(db: Session, provider: str, hints: dict[str, str]) -> list[ClaimMapping]:
    """The mappings matched by a profile's organisation hints."""
    found: list[ClaimMapping] = []
    for claim, value in hints.items():
        found.extend(db.scalars(select(ClaimMapping).where(
            ClaimMapping.provider == provider, ClaimMapping.claim == claim, ClaimMapping.value == value)))
    return found


def create_invite(db: Session, org: Organisation, days: int = 14, email: str | None = None) -> str:
    """A one-time invitation code; only its hash is stored."""
    if not 1 <= days <= 365:
        raise InvalidOrg("--days must be between 1 and 365")  # 0 or less would make a dead code
    if email is not None:
        try:
            email = emails.normalise(email)  # the hub's one address policy, as sign-in and SCIM match it
        except emails.InvalidEmail as exc:
            raise InvalidOrg(f"--email: {exc}") from None
    code = new_token("inv_")
    db.add(Invite(org_id=org.id, code_hash=token_hash(code), email=email,
                  expires_at=clock.now() + timedelta(days=days)))
    return code


def open_invite(db: Session, code: str | None, org: Organisation) -> Invite | None:
    """The unused, unexpired invite for this org with this code, or None."""
    if not code:
        return None
    invite = db.scalar(select(Invite).where(Invite.code_hash == token_hash(code), Invite.org_id == org.id))
    if invite is None or invite.used_at is not None:
        return None
    expires = invite.expires_at if invite.expires_at.tzinfo else invite.expires_at.replace(tzinfo=UTC)
    return invite if expires > clock.now() else None  # the app's clock: tests move it to expire an invite


def find_invite(db: Session, code: str | None) -> Invite | None:
    if not code:
        return None
    return db.scalar(select(Invite).where(Invite.code_hash == token_hash(code)))
