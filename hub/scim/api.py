"""What every SCIM endpoint shares: bearer-token authentication, SCIM Error responses, paging, ETags."""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from pydantic import ValidationError
from scim2_models import (
    Context,
    Error,
    InvalidSyntaxException,
    InvalidValueException,
    NotFoundException,
    NotImplementedException,
    PreconditionFailedException,
    Resource,
    ResponseParameters,
    SCIMException,
    ScimPolicy,
    SearchRequest,
)
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from hub import db, json_input, rate_limits, tenancy, tokens
from hub.models import MAX_KEY, ApiToken

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
MEDIA_TYPE = "application/scim+json"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
DEFAULT_COUNT = 100
MAX_COUNT = 200
JSON_TYPES = ("application/scim+json", "application/json")  # RFC 7644 §3.1: MUST the first, SHOULD the second
ROW_ID = re.compile(r"[0-9]{1,18}")  # ASCII digits that fit a 64-bit key (str.isdigit also takes "²" and "١")
# Microsoft Entra ID's provisioning service departs from RFC 7644 in two ways scim2-models knows by name: it removes
# group members with {"op": "Remove", "path": "members", "value": [{"value": id}]}, and it replaces
# emails[type eq "work"].value on a user that has no such entry yet (expecting the entry to be created).
PATCH_POLICY = ScimPolicy(remove_value_as_filter=ScimPolicy.RemoveValue.apply,
                          unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create)


class UnsupportedMediaType(SCIMException):
    """A body sent as something other than JSON: 415, a status RFC 7644 §3.12 gives no scimType."""

    status = 415
    _default_detail = "Unsupported media type"


def base_url() -> str:
    """Locations are built from HUB_BASE_URL, never from the Host header."""
    return f"{current_app.extensions['settings'].base_url}/scim/v2"


def token() -> ApiToken:
    return g.scim_token


def reach() -> tenancy.Reach:
    """The organisations this request's token sees and changes (hub/tenancy.py), looked up once per request."""
    if "scim_reach" not in g:
        g.scim_reach = tenancy.of_token(db.session(), token())
    return g.scim_reach


def respond(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, mimetype=MEDIA_TYPE, headers=headers or {})


def error(status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None) -> Response:
    body = Error(status=status, scim_type=scim_type, detail=detail).model_dump(mode="json", exclude_none=True)
    return respond(body, status, headers)


@bp.before_request
def _authenticate() -> Response | None:
    """A live token with scope scim, or 401 with WWW-Authenticate (RFC 6750 §3)."""
    scheme, _, presented = request.headers.get("Authorization", "").strip().partition(" ")
    bearer = scheme.lower() == "bearer" and presented.strip() != ""
    found = tokens.verify(db.session(), presented.strip(), "scim") if bearer else None
    if found is None:
        db.session().rollback()
        rate_limits.scim_request(None)  # per address: a flood of made-up tokens stops here too
        # RFC 6750 §3.1: an error code only when bearer credentials were presented and refused.
        challenge = 'Bearer realm="scim"' + (', error="invalid_token"' if bearer else "")
        return error(401, "A valid bearer token with scope scim is required.", headers={"WWW-Authenticate": challenge})
    db.session().commit()  # last_used_at, written at most once a minute
    rate_limits.scim_request(found.id)  # per token, whatever its address: others' floods never limit it
    g.scim_token = found
    return None


@bp.errorhandler(rate_limits.RateLimited)
def _too_many(exc: rate_limits.RateLimited) -> Response:
    """RFC 7644 §3.12 lists 429 among SCIM's errors; Retry-After says when this token may come back."""
    db.session().rollback()
    return error(429, f"Too many requests; retry in {exc.retry_after} seconds.",
                 headers={"Retry-After": str(exc.retry_after)})


@bp.errorhandler(SCIMException)
def _scim_error(exc: SCIMException) -> Response:
    db.session().rollback()
    body = exc.to_error().model_dump(mode="json", exclude_none=True)
    return respond(body, int(body.get("status", 400)))


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    """A body that does not fit the schema (RFC 7644 §3.12): an attribute it does not define is invalidSyntax, a
    SearchRequest's filter invalidFilter (as the same filter in a query string), any other bad value invalidValue."""
    db.session().rollback()
    errors = exc.errors()
    first: Mapping[str, Any] = errors[0] if errors else {}
    loc = first.get("loc", ())
    where = ".".join(str(part) for part in loc)
    scim_type = ("invalidSyntax" if first.get("type") == "extra_forbidden"
                 else "invalidFilter" if tuple(loc[:1]) == ("filter",) else "invalidValue")
    return error(400, f"{where}: {first.get('msg', 'invalid value')}".strip(": "), scim_type)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> Response:
    """A body past the hub's MAX_CONTENT_LENGTH (hub/app.py), as a SCIM Error rather than the app's own JSON."""
    db.session().rollback()
    return error(413, f"a request body is at most {current_app.config['MAX_CONTENT_LENGTH']} bytes")


@bp.post("/.search")
def _search_everything() -> Response:
    """Searching every resource type at once is optional (RFC 7644 §3.4.3): 501, as the RFC says."""
    raise NotImplementedException(detail="search one resource type at a time: POST /Users/.search or /Groups/.search")


@bp.route("", defaults={"_rest": ""}, methods=METHODS, strict_slashes=False)
@bp.route("/<path:_rest>", methods=METHODS)
def _unknown(_rest: str) -> Response:
    """404, or 405 with Allow when the path exists for other methods (DELETE /Users)."""
    adapter = current_app.url_map.bind("scim")
    allowed = []
    for method in METHODS:
        try:
            endpoint, _ = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != request.endpoint:
            allowed.append(method)
    if allowed:
        return error(405, f"{request.path} answers {', '.join(allowed)}.", headers={"Allow": ", ".join(allowed)})
    return error(404, "No such SCIM endpoint.")


def body(*schemas: str) -> dict[str, Any]:
    """The request's JSON object, whose `schemas` lists the first URN given and no URN but those given.

    415 for a body that is not JSON by its Content-Type; invalidSyntax (RFC 7644 §3.12) for malformed JSON or JSON
    nested past json_input.MAX_DEPTH, a body that is not an object, a missing or foreign schema URN, or a NUL
    character (which no column can hold).
    """
    if request.mimetype not in JSON_TYPES:
        raise UnsupportedMediaType(detail=f"send the body as {JSON_TYPES[0]} (or {JSON_TYPES[1]})")
    try:
        data = json_input.loads(request.get_data())
    except json_input.InvalidJson as exc:
        raise InvalidSyntaxException(detail=f"body: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    named = data.get("schemas")
    if not isinstance(named, list) or not all(isinstance(urn, str) for urn in named) or schemas[0] not in named:
        raise InvalidSyntaxException(detail=f"schemas must list {schemas[0]}")
    foreign = [urn for urn in named if urn not in schemas]
    if foreign:
        raise InvalidSyntaxException(detail=f"unknown schema URN {foreign[0]}")
    if _holds_nul(data):
        raise InvalidSyntaxException(detail="a string in the body holds a NUL character")
    return data


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def row_id(text: str) -> int | None:
    """A resource id as a primary key, or None when no row can have it (so the answer is 404, never a 500)."""
    number = int(text) if ROW_ID.fullmatch(text) else None
    return number if number is not None and number <= MAX_KEY else None


def paging() -> tuple[int, int]:
    """startIndex (1-based, below 1 means 1) and count (negative means 0, capped at MAX_COUNT): RFC 7644 §3.4.2.4."""
    try:
        start = int(request.args.get("startIndex", "1"))
        count = int(request.args.get("count", str(DEFAULT_COUNT)))
    except ValueError:
        raise InvalidValueException(detail="startIndex and count must be integers") from None
    return max(1, start), min(max(0, count), MAX_COUNT)


def search_request(model: Any) -> tuple[str | None, int, int, Any]:
    """POST /.search (RFC 7644 §3.4.3): (filter, startIndex, count, response parameters) from the body."""
    search = SearchRequest[model].model_validate(body(str(SearchRequest.__schema__)),
                                                 scim_ctx=Context.SEARCH_REQUEST)
    start = max(1, search.start_index or 1)
    count = min(max(0, search.count if search.count is not None else DEFAULT_COUNT), MAX_COUNT)
    params = search if (search.attributes or search.excluded_attributes) else None
    return str(search.filter) if search.filter else None, start, count, params


def page(session: Session, query: Select[Any], order_by: Any, start: int, count: int) -> tuple[int, list[Any]]:
    """(totalResults, the rows of one page): startIndex is 1-based, count 0 asks for the total alone.

    A startIndex past the end is an empty page without a query, so no OFFSET beyond a 64-bit integer reaches SQL.
    """
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    wanted = count and start <= total
    rows = list(session.scalars(query.order_by(order_by).offset(start - 1).limit(count))) if wanted else []
    return total, rows


def unless_not_modified(response: Response) -> Response:
    """GET with If-None-Match naming the current version: 304 with the ETag, else the response."""
    if request.headers.get("If-None-Match") == response.headers["ETag"]:
        return Response(status=304, headers={"ETag": response.headers["ETag"]})
    return response


def response_parameters(model: Any) -> Any:
    """?attributes= / ?excludedAttributes= resolved against the endpoint's model (RFC 7644 §3.9)."""
    raw = {key: request.args[key] for key in ("attributes", "excludedAttributes") if request.args.get(key)}
    return ResponseParameters[model].model_validate(raw) if raw else None


def set_version(resource: Resource[Any], version: str) -> None:
    """Put the resource's ETag in its meta (the hub's resources are built with one: hub/scim/users.py to_scim)."""
    assert resource.meta is not None, "a resource the hub built has a meta"
    resource.meta.version = version


def version_of(payload: dict[str, Any]) -> str:
    """A weak ETag over the resource as served (meta excluded): any change to what a client sees changes it."""
    content = {key: value for key, value in payload.items() if key != "meta"}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:24]
    return f'W/"{digest}"'


def check_precondition(current: str) -> None:
    """If-Match on a write: refuse to overwrite a version the client has not seen (RFC 7644 §3.14)."""
    wanted = request.headers.get("If-Match")
    if wanted and wanted.strip() != "*" and current not in [part.strip() for part in wanted.split(",")]:
        raise PreconditionFailedException(detail="the resource changed since that version")


def dump(resource: Any, context: Context, **kwargs: Any) -> dict[str, Any]:
    return resource.model_dump(scim_ctx=context, **kwargs)


def not_found(kind: str) -> NotFoundException:
    return NotFoundException(detail=f"{kind} not found")
