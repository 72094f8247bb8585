"""The /xapi blueprint: the part of the LRS protocol that Moodle and Open edX use to send statements.

POST /xapi/statements (one or an array) -> 200 [ids in input order]; PUT ?statementId= -> 204;
GET /xapi/about -> the versions. Every answer carries X-Experience-API-Version: 1.0.3.
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any

import sqlalchemy.exc
from flask import Blueprint, Response, request

from hub import audit, db
from hub.models import Source
from webhooks.xapi import auth, store
from webhooks.xapi.statements import StatementError, parse_body, prepare

bp = Blueprint("xapi", __name__, url_prefix="/xapi")
log = logging.getLogger(__name__)

VERSION = "1.0.3"
VERSIONS = ["1.0.3", "1.0.2", "1.0.1", "1.0.0"]
# xAPI 1.0.x clients send 1.0.0 (Moodle), 1.0.1, 1.0.3 (TinCanPython): the wire format is the same.
_ACCEPTED_VERSION = re.compile(r"^1\.0(\.\d+)?$")
# Moodle sends at most 100 statements per request; this leaves room for large ones.
MAX_BODY_BYTES = 10 * 1024 * 1024


class Refused(Exception):
    """Stops a request with a ready answer (401, 400, 413)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


@bp.errorhandler(Refused)
def _refused(exc: Refused) -> Response:
    return exc.response


@bp.errorhandler(StatementError)
def _bad_statement(exc: StatementError) -> Response:
    return _error(400, str(exc), exc.field)


@bp.errorhandler(sqlalchemy.exc.OperationalError)
@bp.errorhandler(sqlalchemy.exc.TimeoutError)
def _unavailable(error: Exception) -> Response:
    """The database is down: 503, so Moodle and Open edX keep the statements and send them again."""
    ref = audit.new_ref()
    log.warning("xapi storage unavailable ref=%s: %s", ref, type(error).__name__)
    response = _error(503, f"storage unavailable; nothing was stored, retry later (ref {ref})", "body")
    response.headers["Retry-After"] = "30"
    return response


@bp.after_request
def _version_header(response: Response) -> Response:
    response.headers["X-Experience-API-Version"] = VERSION
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/about")
@bp.get("/about/")
def about() -> Any:
    """Which xAPI versions the endpoint speaks (no credentials needed, as in the spec)."""
    return _json({"version": VERSIONS}, 200)


@bp.post("/statements")
@bp.post("/statements/")
def post_statements() -> Any:
    """Store one statement or an array; answer with the ids in input order."""
    source = _source()
    statements = [prepare(body, f"statements[{i}]") for i, body in enumerate(parse_body(_body()))]
    conflict = store.store(db.session(), source, statements)
    if conflict is not None:
        return _error(409, f"statement {conflict} was already stored with different content", "id")
    return _json([s.id for s in statements], 200)


@bp.put("/statements")
@bp.put("/statements/")
def put_statement() -> Any:
    """Store one statement under the id in ?statementId= (Open edX's default); 204 as the spec says."""
    source = _source()
    statement_id = request.args.get("statementId")
    if not statement_id:
        return _error(400, "statementId: required for PUT", "statementId")
    raw = _body()
    bodies = parse_body(raw)
    if len(bodies) != 1 or raw.lstrip().startswith(b"["):
        return _error(400, "body: PUT takes one statement, not an array", "body")
    statement = prepare(bodies[0], "statement", statement_id)
    conflict = store.store(db.session(), source, [statement])
    if conflict is not None:
        return _error(409, f"statement {conflict} was already stored with different content", "statementId")
    return Response(status=204)


def _source() -> Source:
    """The sending source; Refused (401, 400 for another xAPI major version, 413) otherwise."""
    source = auth.authenticate(db.session(), request.headers.get("Authorization"))
    if source is None:
        response = _error(401, "Authorization: a valid Basic key:secret or Bearer token is required",
                          "Authorization")
        response.headers.add("WWW-Authenticate", 'Basic realm="xAPI", charset="UTF-8"')
        response.headers.add("WWW-Authenticate", 'Bearer realm="xAPI"')
        raise Refused(response)
    version = request.headers.get("X-Experience-API-Version")
    # Lenient: a missing header is taken as 1.0.x (some emitters drop it); another version is refused.
    if version is not None and not _ACCEPTED_VERSION.match(version.strip()):
        raise Refused(_error(400, f"X-Experience-API-Version: {version!r} is not supported; use 1.0.x",
                             "X-Experience-API-Version"))
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise Refused(_error(413, f"body: larger than {MAX_BODY_BYTES} bytes", "body"))
    return source


def _body() -> bytes:
    """The body, read to one byte past the limit: a chunked body has no Content-Length to refuse up front."""
    raw = request.stream.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        raise Refused(_error(413, f"body: larger than {MAX_BODY_BYTES} bytes", "body"))
    return raw


def _error(status: int, message: str, field: str) -> Response:
    return _json({"error": message, "field": field}, status)


def _json(value: Any, status: int) -> Response:
    return Response(json.dumps(value), status=status, mimetype="application/json")
