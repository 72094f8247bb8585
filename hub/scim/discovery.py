"""/ServiceProviderConfig, /ResourceTypes and /Schemas: what the hub supports, built from scim2-models.

The schemas are the RFC 7643 core User and Group schemas cut down to the attributes the hub stores and serves, so a
client (and scim2-tester) is told only what it can read back. Writes to /Users also accept, and ignore, the rest of
the core User and the Enterprise User extension (hub/scim/users.py, docs/scim.md "Accepted and ignored").
"""
from __future__ import annotations

from functools import cache
from typing import Any

from flask import Response
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    ETag,
    Filter,
    Group,
    Patch,
    Required,
    Resource,
    ResourceType,
    Schema,
    ServiceProviderConfig,
    Sort,
    User,
)

from hub.scim.api import MAX_COUNT, base_url, bp, dump, error, not_found, respond

USER_ATTRIBUTES = {"userName", "name", "displayName", "active", "emails", "groups"}
USER_SUB_ATTRIBUTES = {"name": {"givenName", "familyName"}, "emails": {"value"}}
REQUIRED = {"userName", "active", "displayName"}  # active: a hub user is always either on or off
GROUP_ATTRIBUTES = {"displayName", "members"}
GROUP_SUB_ATTRIBUTES = {"members": {"value", "$ref", "type"}}


def _trimmed(model: type[Resource[Any]], keep: set[str], keep_sub: dict[str, set[str]], endpoint: str) -> Schema:
    schema = model.to_schema()
    schema.attributes = [attr for attr in schema.attributes or [] if attr.name in keep]
    for attr in schema.attributes:
        if attr.name in keep_sub and attr.sub_attributes:
            attr.sub_attributes = [sub for sub in attr.sub_attributes if sub.name in keep_sub[attr.name]]
    for attr in schema.attributes:
        if attr.name in REQUIRED:
            attr.required = Required.true
    schema.meta = None
    return schema


@cache
def _schemas() -> tuple[Schema, ...]:
    return (_trimmed(User, USER_ATTRIBUTES, USER_SUB_ATTRIBUTES, "/Users"),
            _trimmed(Group, GROUP_ATTRIBUTES, GROUP_SUB_ATTRIBUTES, "/Groups"))


def _schema_dump(schema: Schema) -> dict:
    payload = dump(schema, Context.RESOURCE_QUERY_RESPONSE)
    payload["meta"] = {"resourceType": "Schema", "location": f"{base_url()}/Schemas/{schema.id}"}
    return payload


def _resource_types() -> list[dict]:
    out = []
    for model, endpoint in ((User, "/Users"), (Group, "/Groups")):
        payload = dump(ResourceType.from_resource(model), Context.RESOURCE_QUERY_RESPONSE)
        payload["endpoint"] = endpoint
        payload["meta"] = {"resourceType": "ResourceType", "location": f"{base_url()}/ResourceTypes/{payload['id']}"}
        out.append(payload)
    return out


def _listing(resources: list[dict]) -> dict:
    return {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": len(resources),
            "startIndex": 1, "itemsPerPage": len(resources), "Resources": resources}


@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    config = ServiceProviderConfig(
        documentation_uri="https://github.com/social-hub/social-hub/blob/main/docs/scim.md",
        patch=Patch(supported=True), bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_COUNT), change_password=ChangePassword(supported=False),
        sort=Sort(supported=False), etag=ETag(supported=True),
        authentication_schemes=[AuthenticationScheme(
            type="oauthbearertoken", name="Bearer token", primary=True,
            description="A token from `hub token create --scope scim`, sent as Authorization: Bearer")],
    )
    payload = dump(config, Context.RESOURCE_QUERY_RESPONSE)
    payload["meta"] = {"resourceType": "ServiceProviderConfig", "location": f"{base_url()}/ServiceProviderConfig"}
    return respond(payload)


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    return respond(_listing(_resource_types()))


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    found = next((rt for rt in _resource_types() if rt["id"] == name), None)
    if found is None:
        raise not_found("ResourceType")
    return respond(found)


@bp.get("/Schemas")
def schemas() -> Response:
    return respond(_listing([_schema_dump(schema) for schema in _schemas()]))


@bp.get("/Schemas/<path:schema_id>")
def schema(schema_id: str) -> Response:
    found = next((s for s in _schemas() if s.id == schema_id), None)
    if found is None:
        raise not_found("Schema")
    return respond(_schema_dump(found))





@bp.route("/ServiceProviderConfig", methods=["POST", "PUT", "PATCH", "DELETE"])
@bp.route("/ResourceTypes", methods=["POST", "PUT", "PATCH", "DELETE"])
@bp.route("/Schemas", methods=["POST", "PUT", "PATCH", "DELETE"])
def read_only() -> Response:
    """Discovery endpoints are read-only (RFC 7644 §4): 405, not the catch-all's 404."""
    return error(405, "This endpoint only answers GET.", headers={"Allow": "GET"})
