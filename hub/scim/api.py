"""What every SCIM endpoint shares: bearer-token authentication, SCIM Error responses, paging, ETags."""
from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, current_app, g, request
from scim2_models import (
    Context, Error, InvalidSyntaxException, NotImplementedException, ResponseParameters, InvalidValueException, NotFoundException, PreconditionFailedException,
    SCIMException, SearchRequest,
)
from pydantic import ValidationError

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from hub import db, tokens
from hub.models import ApiToken

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")
MEDIA_TYPE = "application/scim+json"
DEFAULT_COUNT = 100
MAX_COUNT = 200


def base_url() -> str:
    """Locations are built from HUB_BASE_URL, never from the Host header."""
    return f"{current_app.extensions['settings'].base_url}/scim/v2"


def token() -> ApiToken:
    return g.scim_token


def respond(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload), status=status, mimetype=MEDIA_TYPE, headers=headers or {})


def error(status: int, detail: str, scim_type: str | None = None, headers: dict[str, str] | None = None) -> Response:
    body = Error(status=status, scim_type=scim_type, detail=detail).model_dump(mode="json", exclude_none=True)
    return respond(body, status, headers)


@bp.before_request
def _authenticate() -> Response | None:
    """A live token with scope scim, or 401 with WWW-Authenticate (RFC 6750 §3)."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    found = tokens.verify(db.session(), presented.strip(), "scim") if scheme.lower() == "bearer" else None
    if found is None:
        db.session().rollback()
        challenge = 'Bearer realm="scim"' + (', error="invalid_token"' if presented else "")
        return error(401, "A valid bearer token with scope scim is required.", headers={"WWW-Authenticate": challenge})
    db.session().commit()  # last_used_at, written at most once a minute
    g.scim_token = found
    return None


@bp.errorhandler(SCIMException)
def _scim_error(exc: SCIMException) -> Response:
    db.session().rollback()
    body = exc.to_error().model_dump(mode="json", exclude_none=True)
    return respond(body, int(body.get("status", 400)))


@bp.errorhandler(ValidationError)
def _invalid(exc: ValidationError) -> Response:
    db.session().rollback()
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return error(400, f"{where}: {first.get('msg', 'invalid value')}".strip(": "), "invalidValue")


@bp.post("/.search")
def _search_everything() -> Response:
    """Searching every resource type at once is optional (RFC 7644 §3.4.3): 501, as the RFC says."""
    raise NotImplementedException(detail="search one resource type at a time: POST /Users/.search or /Groups/.search")


@bp.route("/<path:_rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def _unknown(_rest: str) -> Response:
    return error(404, "No such SCIM endpoint.")


def body() -> dict[str, Any]:
    """The request's JSON object (application/scim+json or application/json), or invalidSyntax."""
    data = request.get_json(force=True, silent=True)
    if not isinstance(data, dict):
        raise InvalidSyntaxException(detail="the body must be a JSON object")
    return data


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
    search = SearchRequest[model].model_validate(body(), scim_ctx=Context.SEARCH_REQUEST)
    start = max(1, search.start_index or 1)
    count = min(max(0, search.count if search.count is not None else DEFAULT_COUNT), MAX_COUNT)
    params = search if (search.attributes or search.excluded_attributes) else None
    return str(search.filter) if search.filter else None, start, count, params


def page(session: Session, query: Select[Any], order_by: Any, start: int, count: int) -> tuple[int, list[Any]]:
    """(totalResults, the rows of one page): startIndex is 1-based, count 0 asks for the total alone."""
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = list(session.scalars(query.order_by(order_by).offset(start - 1).limit(count))) if count else []
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
