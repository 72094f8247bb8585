"""/scim/v2/Users: hub users as SCIM Users (userName = email, externalId = the LMS's id for them).

externalId is kept as LmsAccount(token.home_page, externalId), the row the xAPI intake matches actor.account
against, so an LMS that provisions by SCIM is also understood when it sends statements. active false disables the
user through hub/deprovision.py (sessions, refresh tokens, waiting posts, provider tokens); DELETE erases them.

Writes are read as RFC 7643's full core User with its Enterprise User extension (scim2-models' own models), so the
attributes identity providers map by default (title, phoneNumbers, the extension's department...) are accepted and
ignored, while an attribute neither schema defines is still refused. Only what the hub stores is served.

A token sees only the users of its organisations (hub/tenancy.py), and never an admin of the hub or of any
organisation: anyone else is left out of every listing and is 404 for every read and write, exactly as an unknown id.
"""
from __future__ import annotations

from typing import Annotated, Any

from flask import Response, request
from pydantic import AfterValidator
from scim2_models import (
    AnyExtension,
    Context,
    Email,
    EnterpriseUser,
    ForbiddenException,
    GroupMembership,
    InvalidValueException,
    ListResponse,
    Manager,
    Meta,
    Name,
    PatchOp,
    UniquenessException,
    User,
)
from sqlalchemy import ColumnElement, String, and_, cast, exists, false, func, select
from sqlalchemy.orm import Session

from hub import db, deprovision, emails, orgs, tenancy
from hub.models import Erasure, LmsAccount, Organisation, UserStatus, aware, utcnow
from hub.models import User as HubUser
from hub.models.scim import ScimVersion
from hub.scim import filters
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
    token,
    unless_not_modified,
    version_of,
)

SCHEMA = str(User.__schema__)
ENTERPRISE = str(EnterpriseUser.__schema__)


class _WrittenEmail(Email):
    """An address as the hub's one policy takes it (hub/emails.py), not as pydantic's EmailStr: directory addresses
    on reserved names (test.user@okta.local) are refused by the latter and common in the identity providers' data."""

    value: Annotated[str, AfterValidator(emails.normalise)] | None = None


class _WrittenUser(User[AnyExtension]):
    """RFC 7643's core User (same schema URN), its emails read by the hub's policy."""

    # Narrower than User's list[Email], which mypy calls incompatible (a list is invariant); pydantic reads the
    # field as declared here, which is the point.
    emails: list[_WrittenEmail] | None = None  # type: ignore[assignment]


WRITTEN = _WrittenUser[EnterpriseUser]  # POST, PUT and PATCH are read as this; what it holds beyond to_scim is ignored
MANAGER_PATH = f"{ENTERPRISE}:manager".lower()
NAME_LENGTH, EXTERNAL_ID_LENGTH = 200, 255  # the columns' sizes (users.name..., lms_accounts.external_id)


def _external_id(session: Session, user: HubUser) -> str | None:
    return session.scalar(select(LmsAccount.external_id).where(
        LmsAccount.user_id == user.id, LmsAccount.home_page == token().home_page))


def _versions(session: Session, ids: list[int]) -> dict[int, ScimVersion]:
    if not ids:
        return {}
    return {row.resource_id: row for row in session.scalars(select(ScimVersion).where(
        ScimVersion.resource_type == "User", ScimVersion.resource_id.in_(ids)))}


def to_scim(session: Session, user: HubUser, state: ScimVersion | None = None, *, patching: bool = False) -> User:
    """The SCIM view of a user (meta.version is filled in by `serve`); `patching`: the copy a PATCH is applied to."""
    org = session.get(Organisation, user.org_id) if user.org_id else None
    if state is None:
        state = session.get(ScimVersion, ("User", user.id)) if user.id else None
    modified = state.updated_at if state else None
    user_name = (state.user_name if state else None) or user.email or f"user-{user.id}"
    return (WRITTEN if patching else User)(
        id=str(user.id), user_name=user_name, display_name=user.name,
        name=Name(given_name=user.given_name, family_name=user.family_name) if user.given_name or user.family_name
        else None,
        emails=[_email(user.email, patching)] if user.email else None,
        active=user.status == UserStatus.ACTIVE and (not user.id or deprovision.pending_hold(session, user.id) is None),
        external_id=_external_id(session, user),
        groups=[GroupMembership(value=str(org.id), display=org.name, ref=f"{base_url()}/Groups/{org.id}")]
        if org else None,
        meta=Meta(resource_type="User", created=aware(user.created_at),
                  last_modified=aware(modified or user.created_at), location=f"{base_url()}/Users/{user.id}"),
    )


def _email(address: str, patching: bool) -> Email:
    """The user's one address. A PATCH sees it as the primary work address, the entry IdPs map mail to (Entra ID
    writes emails[type eq "work"].value), so their paths find it; type and primary are not stored, so not served.

    Not revalidated: an address stored before the policy was one (hub/emails.py) must not turn every listing into a
    400."""
    if patching:
        return _WrittenEmail.model_construct(value=address, type=Email.Type.work, primary=True)
    return Email.model_construct(value=address)


def serve(session: Session, user: HubUser, context: Context, status: int = 200) -> Response:
    resource = to_scim(session, user)
    payload = dump(resource, context)
    version = version_of(payload)
    payload["meta"]["version"] = version
    headers = {"ETag": version}
    if status == 201:
        headers["Location"] = payload["meta"]["location"]
    params = response_parameters(User)
    if params is not None:
        set_version(resource, version)
        payload = dump(resource, context, response_parameters=params)
    return respond(payload, status, headers)


def visible() -> ColumnElement[bool]:
    """The users this request's token may list: not erased, in its organisations, and no admin of any kind."""
    return and_(~exists(select(Erasure.user_id).where(Erasure.user_id == HubUser.id)),
                reach().where(HubUser.org_id), ~tenancy.any_admin_clause())


def is_visible(session: Session, user: HubUser) -> bool:
    """`visible` for one row: an LMS does not manage the hub's admins, nor anyone beyond its organisations."""
    return (session.get(Erasure, user.id) is None and reach().allows(user.org_id)
            and not tenancy.is_any_admin(session, user))


def _live(session: Session, user_id: str) -> HubUser:
    """The user, unless unknown, erased, outside the token's organisations or an admin: each is the same 404, so a
    token learns nothing about who exists beyond what it may manage."""
    key = row_id(user_id)
    user = session.get(HubUser, key) if key is not None else None
    if user is None or not is_visible(session, user):
        raise not_found("User")
    return user


def _columns() -> filters.Columns:
    return {
        "username": (_user_name, True), "emails": (lambda: HubUser.email, True),
        "emails.value": (lambda: HubUser.email, True), "displayname": (lambda: HubUser.name, False),
        "name.givenname": (lambda: HubUser.given_name, False), "name.familyname": (lambda: HubUser.family_name, False),
        "id": (lambda: cast(HubUser.id, String), False), "meta.created": (lambda: HubUser.created_at, False),
    }


def _user_name() -> Any:
    own = select(ScimVersion.user_name).where(ScimVersion.resource_type == "User",
                                              ScimVersion.resource_id == HubUser.id).scalar_subquery()
    return func.coalesce(own, HubUser.email)


def _special() -> filters.Special:
    def email_type(op: str, value: Any) -> Any:
        # emails[type eq "work"]: the one address is served as type work (see to_scim).
        if op == "pr":
            return HubUser.email.isnot(None)
        if op != "eq" or not isinstance(value, str):
            raise filters.InvalidFilterException(detail="emails.type supports eq and pr")
        return HubUser.email.isnot(None) if value.lower() == "work" else false()

    def external_id(op: str, value: Any) -> Any:
        account = select(LmsAccount.id).where(LmsAccount.user_id == HubUser.id,
                                              LmsAccount.home_page == token().home_page)
        if op == "pr":
            return exists(account)
        if op != "eq" or not isinstance(value, str):
            raise filters.InvalidFilterException(detail="externalId supports eq and pr")
        return exists(account.where(LmsAccount.external_id == value))

    return {"externalid": external_id, "emails.type": email_type,
            "active": filters.boolean(and_(HubUser.status == UserStatus.ACTIVE, ~deprovision.held_clause(HubUser.id)))}


@bp.get("/Users")
def list_users() -> Response:
    start, count = paging()
    return _search(request.args.get("filter"), start, count, response_parameters(User))


@bp.post("/Users/.search")
def search_users() -> Response:
    """POST /.search (RFC 7644 §3.4.3): the query in the body, so filters stay out of logs and URLs."""
    return _search(*search_request(User))


def _search(expression: str | None, start: int, count: int, params: Any) -> Response:
    session = db.session()
    query = select(HubUser).where(visible())
    if expression:
        query = query.where(filters.to_sql(filters.parse(expression), _columns(), _special()))
    total, rows = page(session, query, HubUser.id, start, count)
    states = _versions(session, [row.id for row in rows])
    resources = []
    for row in rows:
        resource = to_scim(session, row, states.get(row.id))
        set_version(resource, version_of(dump(resource, Context.RESOURCE_QUERY_RESPONSE)))
        resources.append(resource)
    listing = ListResponse[User](total_results=total, start_index=start, items_per_page=len(resources),
                                 resources=resources)
    return respond(dump(listing, Context.RESOURCE_QUERY_RESPONSE, response_parameters=params))


@bp.get("/Users/<user_id>")
def get_user(user_id: str) -> Response:
    session = db.session()
    return unless_not_modified(serve(session, _live(session, user_id), Context.RESOURCE_QUERY_RESPONSE))


@bp.post("/Users")
def create_user() -> Response:
    session = db.session()
    incoming = _written(Context.RESOURCE_CREATION_REQUEST)
    user = HubUser(status=UserStatus.ACTIVE, org_id=_home_org(session, _email_of(incoming)))
    session.add(user)
    _apply(session, user, incoming, creating=True)
    session.commit()
    return serve(session, user, Context.RESOURCE_CREATION_RESPONSE, 201)


@bp.put("/Users/<user_id>")
def replace_user(user_id: str) -> Response:
    session = db.session()
    user = _live(session, user_id)
    check_precondition(_current_version(session, user))
    incoming = _written(Context.RESOURCE_REPLACEMENT_REQUEST)
    _apply(session, user, incoming)
    session.commit()
    return serve(session, user, Context.RESOURCE_REPLACEMENT_RESPONSE)


@bp.patch("/Users/<user_id>")
def patch_user(user_id: str) -> Response:
    session = db.session()
    user = _live(session, user_id)
    check_precondition(_current_version(session, user))
    data = body(str(PatchOp.__schema__))
    if isinstance(data.get("Operations"), list):
        data = {**data, "Operations": [_entra_manager_op(op) for op in data["Operations"]]}
    operations = PatchOp[WRITTEN].model_validate(data, scim_ctx=Context.RESOURCE_PATCH_REQUEST,
                                                 scim_policy=PATCH_POLICY)
    resource = to_scim(session, user, patching=True)
    assert isinstance(resource, _WrittenUser), "to_scim builds WRITTEN when patching"
    operations.patch(resource, scim_policy=PATCH_POLICY)
    _apply(session, user, resource)
    session.commit()
    return serve(session, user, Context.RESOURCE_PATCH_RESPONSE)


@bp.delete("/Users/<user_id>")
def delete_user(user_id: str) -> Response:
    """DELETE erases the user (GDPR-style): the resource is gone, the audit log keeps a pseudonym."""
    session = db.session()
    user = _live(session, user_id)
    check_precondition(_current_version(session, user))
    deprovision.erase(session, user, actor=f"scim:{token().name}")
    session.commit()
    return Response(status=204)


def _home_org(session: Session, email: str | None) -> int | None:
    """Where a new user lands: the token's one organisation; of several, the one whose domain the email is in.

    A User's `groups` is read-only (RFC 7643 §4.1.2; RFC 7644 §3.3 has the hub ignore it on create), so a request
    cannot name the organisation: without a matching domain a token of several organisations is refused. An all-orgs
    token places nobody, as before tenancy: sign-in (domains, claim mappings) or a Group's members do.
    """
    scope = reach()
    if scope.everything:
        return None
    if not scope.org_ids:
        raise ForbiddenException(detail="this token reaches no organisation any more: a hub admin scopes it "
                                        "(hub token scope ID --org NAME)")
    if len(scope.org_ids) == 1:
        return next(iter(scope.org_ids))
    domain = orgs.org_for_domain(session, orgs.email_domain(email))
    if domain is not None and scope.allows(domain.org_id):
        return domain.org_id
    names = ", ".join(tenancy.org_names(session, scope))
    raise InvalidValueException(
        detail=f"this token reaches several organisations ({names}) and the user's email is in none of their "
               "domains: give an address of one of those domains, or create the user with a token scoped to the "
               "one organisation")


def _written(context: Context) -> User:
    """A POST or PUT body as the full core User with the Enterprise extension (the hub keeps none of the latter)."""
    data = body(SCHEMA, ENTERPRISE)
    extension = data.get(ENTERPRISE)
    if isinstance(extension, dict):
        # manager.$ref is required by RFC 7643 §8.7.1 (and so by scim2-models) but only RECOMMENDED by §4.3, and
        # Entra ID sends neither $ref nor even an object ("manager": "id"): checked as a Manager, then dropped.
        for key in [key for key in extension if key.lower() == "manager"]:
            if extension[key] is not None:
                Manager.model_validate(_as_manager(extension[key]))
        data = {**data, ENTERPRISE: {key: value for key, value in extension.items() if key.lower() != "manager"}}
    return WRITTEN.model_validate(data, scim_ctx=context)


def _as_manager(value: Any) -> Any:
    """Entra ID writes the enterprise manager as the manager's id alone: read it as the complex attribute."""
    return {"value": value} if isinstance(value, str) else value


def _entra_manager_op(operation: Any) -> Any:
    """A PATCH operation with Entra ID's string manager made complex: as the path (`...:User:manager`), as a key of a
    path-less value (`{"...:User:manager": id}`, `{"...:User": {"manager": id}}`) or of the extension's value."""
    if not isinstance(operation, dict):
        return operation
    path, value = str(operation.get("path") or "").lower(), operation.get("value")
    if path == MANAGER_PATH:
        return {**operation, "value": _as_manager(value)}
    if path not in ("", ENTERPRISE.lower()) or not isinstance(value, dict):
        return operation
    manager_keys = {"manager"} if path else {MANAGER_PATH}
    fixed = {key: _as_manager(item) if key.lower() in manager_keys else item for key, item in value.items()}
    if not path:
        fixed = {key: _entra_manager_op({"path": ENTERPRISE, "value": item})["value"]
                 if key.lower() == ENTERPRISE.lower() else item for key, item in fixed.items()}
    return {**operation, "value": fixed}


def _current_version(session: Session, user: HubUser) -> str:
    return version_of(dump(to_scim(session, user), Context.RESOURCE_QUERY_RESPONSE))


def _apply(session: Session, user: HubUser, incoming: User, *, creating: bool = False) -> None:
    """Write a SCIM User onto the row: email, names, externalId, then active (which may disable or enable).

    Everything is checked before anything is written, so a refused request changes nothing.
    """
    user_name = (incoming.user_name or "").strip()
    if not user_name or len(user_name) > 320:
        raise InvalidValueException(detail="userName is required (at most 320 characters)")
    _check_lengths(incoming)
    email = _email_of(incoming)
    _check_unique(session, user, user_name, email)
    if (user.email or "").lower() != (email or "").lower():
        # The LMS (an admin tool) vouches for the address: the LMS handoff may use it, and a first sign-in may claim a
        # user who has no sign-in yet by it; never a reason to link another identity to one who has (pipeline.py).
        user.email, user.email_verified, user.email_from_scim = email, email is not None, email is not None
    user.name = incoming.display_name or (incoming.name.formatted if incoming.name else None) or user.name
    user.given_name = incoming.name.given_name if incoming.name else None
    user.family_name = incoming.name.family_name if incoming.name else None
    if not incoming.display_name and not (incoming.name and incoming.name.formatted):
        user.name = " ".join(part for part in (user.given_name, user.family_name) if part) or None
    session.flush()
    _set_external_id(session, user, incoming.external_id)
    actor = f"scim:{token().name}"
    # A PUT that leaves active out does not assert it (RFC 7644 §3.5.1 lets the hub keep it): omitting it must
    # never re-enable a user the LMS disabled.
    # active=false on an existing user may be held by the mass-suspension guard (hub/deprovision.py): they stay
    # active for now, and the client is served active=false, what it sent, until an admin decides.
    if incoming.active is False and creating:
        deprovision.disable(session, user, actor=actor, reason="scim active=false")
    elif incoming.active is False:
        deprovision.scim_deactivate(session, user, actor=actor)
    elif incoming.active is True and not creating:
        deprovision.scim_activate(session, user, actor=actor)
    _touch(session, user.id, None if email and user_name.lower() == email.lower() else user_name)


def _check_lengths(incoming: User) -> None:
    """Strings longer than their columns are invalidValue (PostgreSQL would refuse them with a 500)."""
    name = incoming.name
    for label, value, limit in (("displayName", incoming.display_name, NAME_LENGTH),
                                ("name.formatted", name.formatted if name else None, NAME_LENGTH),
                                ("name.givenName", name.given_name if name else None, NAME_LENGTH),
                                ("name.familyName", name.family_name if name else None, NAME_LENGTH),
                                ("externalId", incoming.external_id, EXTERNAL_ID_LENGTH)):
        if value is not None and len(value) > limit:
            raise InvalidValueException(detail=f"{label} is longer than {limit} characters")


def _email_of(incoming: User) -> str | None:
    """The primary email, else the first, else userName when it is an address; None: a user without email.

    emails[].value was checked by the hub's policy when the body was read (_WrittenEmail); userName is an address
    only if the same policy takes it, else it is a plain userName.
    """
    listed = [str(e.value).strip() for e in sorted(incoming.emails or [], key=lambda e: not e.primary) if e.value]
    if listed:
        return emails.normalise(listed[0])
    user_name = (incoming.user_name or "").strip()
    if "@" not in user_name or not emails.is_valid(user_name):
        return None
    return emails.normalise(user_name)


def _check_unique(session: Session, user: HubUser, user_name: str, email: str | None) -> None:
    """userName is unique case-insensitively over every user's userName (their own, or their email)."""
    others = HubUser.id != (user.id or 0)
    names = {user_name.lower()} | ({email.lower()} if email else set())
    taken = session.scalar(select(HubUser.id).where(others, func.lower(HubUser.email).in_(names))) or \
        session.scalar(select(ScimVersion.resource_id).where(
            ScimVersion.resource_type == "User", ScimVersion.resource_id != (user.id or 0),
            func.lower(ScimVersion.user_name) == user_name.lower()))
    if taken is not None:
        raise UniquenessException(detail=f"userName {user_name} is already taken")


def _set_external_id(session: Session, user: HubUser, external_id: str | None) -> None:
    home_page = token().home_page
    mine = session.scalar(select(LmsAccount).where(LmsAccount.user_id == user.id, LmsAccount.home_page == home_page))
    if not external_id:
        if mine is not None:
            session.delete(mine)
        return
    taken = session.scalar(select(LmsAccount.user_id).where(
        and_(LmsAccount.home_page == home_page, LmsAccount.external_id == external_id)))
    if taken is not None and taken != user.id:
        raise UniquenessException(detail=f"externalId {external_id} belongs to another user")
    if mine is None:
        session.add(LmsAccount(user_id=user.id, home_page=home_page, external_id=external_id))
    else:
        mine.external_id = external_id


def _touch(session: Session, user_id: int, user_name: str | None) -> None:
    row = session.get(ScimVersion, ("User", user_id))
    if row is None:
        session.add(ScimVersion(resource_type="User", resource_id=user_id, version=1, updated_at=utcnow(),
                                user_name=user_name))
    else:
        row.version, row.updated_at, row.user_name = row.version + 1, utcnow(), user_name

