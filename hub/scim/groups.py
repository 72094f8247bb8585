"""/scim/v2/Groups: the hub's organisations as SCIM Groups; members are the organisation's users.

A hub user belongs to one organisation, so adding a user to a group moves them out of the one they were in;
removing them leaves them in none. A group made through SCIM is an organisation with the invite policy (nobody
joins it by signing in: the LMS decides who is in). Named groups (users.groups, the `groups` claim) are not SCIM
resources.

A token sees only its organisations (hub/tenancy.py). Organisations are the hub's tenants, so only an all-orgs token
creates or deletes one, and none deletes an organisation that has admins. Members are the users the token may see
(users.visible): admins are neither listed nor moved, and a user beyond the token's reach cannot be added.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Response, request
from scim2_models import (
    Context,
    ForbiddenException,
    Group,
    GroupMember,
    InvalidValueException,
    ListResponse,
    Meta,
    PatchOp,
    UniquenessException,
)
from sqlalchemy import String, and_, cast, exists, func, select, update
from sqlalchemy.orm import Session

from hub import db, names, tenancy
from hub.models import OrgAdmin, Organisation, OrgPolicy, aware, utcnow
from hub.models import User as HubUser
from hub.models.scim import ScimVersion
from hub.scim import filters, users
from hub.scim.api import (
    PATCH_POLICY,
    base_url,
    body,
    bp,
    check_precondition,
    dump,
    not_found,
    page,
    paging,
    reach,
    respond,
    response_parameters,
    row_id,
    search_request,
    set_version,
    unless_not_modified,
    version_of,
)

SCHEMA = str(Group.__schema__)
EXTERNAL_ID_LENGTH = 255  # scim_versions.external_id
# Microsoft Entra ID lists this extension in every Group it writes (and defines nothing in it the hub keeps): taken
# and dropped, as the Enterprise User extension's unkept attributes are on Users.
ENTRA_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


def to_scim(session: Session, org: Organisation) -> Group:
    members = session.scalars(select(HubUser.id).where(HubUser.org_id == org.id, users.visible())
                              .order_by(HubUser.id)).all()
    state = session.get(ScimVersion, ("Group", org.id)) if org.id else None
    modified = state.updated_at if state else None
    return Group(
        id=str(org.id), display_name=org.name, external_id=state.external_id if state else None,
        members=[GroupMember(value=str(uid), type="User", ref=f"{base_url()}/Users/{uid}") for uid in members] or None,
        meta=Meta(resource_type="Group", created=aware(org.created_at), last_modified=aware(modified or org.created_at),
                  location=f"{base_url()}/Groups/{org.id}"),
    )


def _versioned(session: Session, org: Organisation) -> tuple[Group, str]:
    resource = to_scim(session, org)
    version = version_of(dump(resource, Context.RESOURCE_QUERY_RESPONSE))
    set_version(resource, version)
    return resource, version


def serve(session: Session, org: Organisation, context: Context, status: int = 200) -> Response:
    resource, version = _versioned(session, org)
    payload = dump(resource, context, response_parameters=response_parameters(Group))
    headers = {"ETag": version}
    if status == 201:
        headers["Location"] = f"{base_url()}/Groups/{org.id}"
    return respond(payload, status, headers)


def _org(session: Session, group_id: str) -> Organisation:
    """The organisation, or 404 when unknown or beyond the token's organisations (the same answer)."""
    key = row_id(group_id)
    org = session.get(Organisation, key) if key is not None else None
    if org is None or not reach().allows(org.id):
        raise not_found("Group")
    return org


def _require_all_orgs(action: str) -> None:
    """Organisations are the hub's tenants: a token scoped to some cannot add or remove one (403, RFC 7644 §3.12)."""
    if not reach().everything:
        raise ForbiddenException(detail=f"this token is scoped to its organisations and cannot {action} one: a hub "
                                        "admin does, or a token made with --all-orgs")


def _columns() -> filters.Columns:
    return {"displayname": (lambda: Organisation.name, True), "id": (lambda: cast(Organisation.id, String), False),
            "meta.created": (lambda: Organisation.created_at, False)}


def _special() -> filters.Special:
    def member(op: str, value: Any) -> Any:
        members = select(HubUser.id).where(HubUser.org_id == Organisation.id, users.visible())
        if op == "pr":
            return exists(members)
        key = row_id(value) if op == "eq" and isinstance(value, str) else None
        if key is None:
            raise filters.InvalidFilterException(detail="members.value supports eq (a user id) and pr")
        return exists(members.where(HubUser.id == key))

    return {"members": member, "members.value": member}


@bp.get("/Groups")
def list_groups() -> Response:
    start, count = paging()
    return _search(request.args.get("filter"), start, count, response_parameters(Group))


@bp.post("/Groups/.search")
def search_groups() -> Response:
    return _search(*search_request(Group))


def _search(expression: str | None, start: int, count: int, params: Any) -> Response:
    session = db.session()
    query = select(Organisation).where(reach().where(Organisation.id))
    if expression:
        query = query.where(filters.to_sql(filters.parse(expression), _columns(), _special()))
    total, rows = page(session, query, Organisation.id, start, count)
    listing = ListResponse[Group](total_results=total, start_index=start, items_per_page=len(rows),
                                  resources=[_versioned(session, org)[0] for org in rows])
    return respond(dump(listing, Context.RESOURCE_QUERY_RESPONSE, response_parameters=params))


@bp.get("/Groups/<group_id>")
def get_group(group_id: str) -> Response:
    session = db.session()
    return unless_not_modified(serve(session, _org(session, group_id), Context.RESOURCE_QUERY_RESPONSE))


@bp.post("/Groups")
def create_group() -> Response:
    session = db.session()
    _require_all_orgs("create")
    incoming = Group.model_validate(_written(), scim_ctx=Context.RESOURCE_CREATION_REQUEST)
    org = Organisation(name="", policy=OrgPolicy.INVITE)
    session.add(org)
    _apply(session, org, incoming)
    session.commit()
    return serve(session, org, Context.RESOURCE_CREATION_RESPONSE, 201)


@bp.put("/Groups/<group_id>")
def replace_group(group_id: str) -> Response:
    session = db.session()
    org = _org(session, group_id)
    check_precondition(_versioned(session, org)[1])
    _apply(session, org, Group.model_validate(_written(), scim_ctx=Context.RESOURCE_REPLACEMENT_REQUEST))
    session.commit()
    return serve(session, org, Context.RESOURCE_REPLACEMENT_RESPONSE)


@bp.patch("/Groups/<group_id>")
def patch_group(group_id: str) -> Response:
    session = db.session()
    org = _org(session, group_id)
    resource, version = _versioned(session, org)
    check_precondition(version)
    data = body(str(PatchOp.__schema__))
    if isinstance(data.get("Operations"), list):
        data = {**data, "Operations": [done for op in data["Operations"] for done in _member_removals(op)]}
    operations = PatchOp[Group].model_validate(data, scim_ctx=Context.RESOURCE_PATCH_REQUEST,
                                               scim_policy=PATCH_POLICY)
    operations.patch(resource, scim_policy=PATCH_POLICY)
    _apply(session, org, resource)
    session.commit()
    return serve(session, org, Context.RESOURCE_PATCH_RESPONSE)


def _written() -> dict[str, Any]:
    """A POST or PUT body as a core Group: Entra ID's extension URN (and any object under it) dropped."""
    data = body(SCHEMA, ENTRA_GROUP)
    return {key: value for key, value in data.items() if key.lower() != ENTRA_GROUP.lower()} | {
        "schemas": [urn for urn in data["schemas"] if urn != ENTRA_GROUP]}


def _member_removals(operation: Any) -> list[Any]:
    """Entra ID's member removal, {"op": "Remove", "path": "members", "value": [{"$ref": null, "value": id}]}, as
    the RFC's one `members[value eq id]` removal per member (RFC 7644 §3.5.2.2).

    Read as written, each listed entry is compared whole with the served member, whose $ref is set, so nothing
    matched and the member stayed (with a 200). The id alone says who leaves; an entry without one is invalidValue;
    any other operation is passed on unchanged.
    """
    if not isinstance(operation, dict):
        return [operation]
    op, path, value = str(operation.get("op", "")).lower(), str(operation.get("path") or ""), operation.get("value")
    if op != "remove" or path.strip().lower() != "members" or not isinstance(value, list) or not value:
        return [operation]
    if not all(isinstance(entry, dict) and isinstance(entry.get("value"), str) for entry in value):
        # Read whole, such an entry matched nobody and the request "succeeded": say what is missing instead.
        raise InvalidValueException(detail="a members removal lists each member as an object with its id as value")
    # json.dumps quotes the id as a SCIM filter string (RFC 7644 §3.4.2.2 compares JSON strings).
    return [{"op": "remove", "path": f"members[value eq {json.dumps(entry['value'])}]"} for entry in value]


@bp.delete("/Groups/<group_id>")
def delete_group(group_id: str) -> Response:
    """The organisation goes; its members stay, in no organisation. Not one with admins: SCIM never changes them."""
    session = db.session()
    org = _org(session, group_id)
    _require_all_orgs("delete")
    check_precondition(_versioned(session, org)[1])
    if _has_admins(session, org):
        raise ForbiddenException(detail=f"{org.name} has admins, and SCIM does not change admins: a hub admin "
                                        "revokes their roles first (hub user admin EMAIL [--org NAME] --revoke)")
    session.execute(update(HubUser).where(HubUser.org_id == org.id).values(org_id=None)
                    .execution_options(synchronize_session=False))
    session.delete(org)
    session.commit()
    return Response(status=204)


def _has_admins(session: Session, org: Organisation) -> bool:
    """Does the organisation have admins of its own, or hold a hub admin among its members?"""
    return session.scalar(select(exists(select(OrgAdmin.user_id).where(OrgAdmin.org_id == org.id))
                                 | exists(select(HubUser.id).where(HubUser.org_id == org.id,
                                                                   tenancy.any_admin_clause())))) or False


def _apply(session: Session, org: Organisation, incoming: Group) -> None:
    """Name and members: the listed users move into this organisation, the others it can see leave it.

    A member must be a user the token sees (users.visible): anyone else reads as no user at all, so the wall is not
    crossed in either direction. Admins, whom the group never lists, stay where they are."""
    name = (incoming.display_name or "").strip()
    if not name or len(name) > 200:
        raise InvalidValueException(detail="displayName must be 1 to 200 characters")
    if hidden := names.problem(name, "displayName"):  # the organisation's name, shown to its people and admins
        raise InvalidValueException(detail=hidden)
    if incoming.external_id is not None and len(incoming.external_id) > EXTERNAL_ID_LENGTH:
        raise InvalidValueException(detail=f"externalId is longer than {EXTERNAL_ID_LENGTH} characters")
    clash = session.scalar(select(Organisation.id).where(func.lower(Organisation.name) == name.lower(),
                                                         Organisation.id != (org.id or 0)))
    if clash is not None:
        raise UniquenessException(detail=f"a group called {name} already exists")
    org.name = name
    session.flush()
    wanted: set[int] = set()
    for member in incoming.members or []:
        value = str(member.value or "")
        key = row_id(value)
        user = session.get(HubUser, key) if key is not None else None
        if user is None or not users.is_visible(session, user):
            raise InvalidValueException(detail=f"member {value} is not a user")
        wanted.add(user.id)
    leaving = and_(HubUser.org_id == org.id, HubUser.id.not_in(wanted or {0}), ~tenancy.any_admin_clause())
    session.execute(update(HubUser).where(leaving).values(org_id=None).execution_options(synchronize_session=False))
    if wanted:
        session.execute(update(HubUser).where(HubUser.id.in_(wanted)).values(org_id=org.id)
                        .execution_options(synchronize_session=False))
    row = session.get(ScimVersion, ("Group", org.id))
    if row is None:
        session.add(ScimVersion(resource_type="Group", resource_id=org.id, version=1, updated_at=utcnow(),
                                external_id=incoming.external_id))
    else:
        row.version, row.updated_at, row.external_id = row.version + 1, utcnow(), incoming.external_id
