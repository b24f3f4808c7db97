"""Contexts, their environment variables (values are never shown) and their restrictions."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

from .._entities import Context, ContextEnvVar, ContextRestriction, Organization
from .._world import WorldError
from ._core import ApiCall, ApiError, ApiRoute, Reply, find, iso

__all__ = ["ROUTES"]


def _render_context(context: Context) -> dict[str, Any]:
    return {"id": context.id, "name": context.name, "created_at": iso(context.created_at)}


def _render_env(env: ContextEnvVar) -> dict[str, Any]:
    return {
        "variable": env.variable,
        "created_at": iso(env.created_at),
        "updated_at": iso(env.updated_at),
        "context_id": env.context_id,
    }


def _owner(call: ApiCall, owner_id: str | None, owner_slug: str | None) -> Organization:
    key = owner_id or owner_slug
    if not key:
        raise ApiError(400, "Either owner-id or owner-slug is required.")
    return find(lambda: call.world.organization(key), "Owner not found.")


def context_of(call: ApiCall) -> Context:
    context_id = call.uuid_param("context_id", "context_id")
    return find(lambda: call.world.context(context_id), "Context not found.")


def _render_restriction(restriction: ContextRestriction, *, listed: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": restriction.id,
        "name": restriction.name,
        "restriction_type": restriction.type,
        "restriction_value": restriction.value,
    }
    if restriction.project_id is not None:
        body["project_id"] = restriction.project_id
    if listed:  # the answer to a creation has no context_id
        body["context_id"] = restriction.context_id
    return body


def list_contexts(call: ApiCall) -> Reply:
    """GET /context"""
    owner_type = call.query.get("owner-type")
    if owner_type is not None and owner_type not in ("account", "organization"):
        raise ApiError(400, "owner-type must be account or organization.")
    org = _owner(call, call.query.get("owner-id"), call.query.get("owner-slug"))
    items = [_render_context(c) for c in call.world.contexts(org.id)]
    return Reply(call.page(items, f"contexts:{org.id}"))


class _Owner(msgspec.Struct, forbid_unknown_fields=True):
    id: uuid.UUID | None = None
    slug: str | None = None
    type: Literal["account", "organization"] = "organization"


class _NewContext(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    owner: _Owner


def create_context(call: ApiCall) -> Reply:
    """POST /context"""
    body = call.json(_NewContext)
    if (body.owner.id is None) == (body.owner.slug is None):
        raise ApiError(400, "owner needs exactly one of id and slug.")
    if body.owner.slug is not None and body.owner.type != "organization":
        raise ApiError(400, "An owner given by slug must be an organization.")
    owner_id = None if body.owner.id is None else str(body.owner.id)
    org = _owner(call, owner_id, body.owner.slug)
    if not body.name:
        raise ApiError(400, "name must not be empty.")
    return Reply(_render_context(call.world.create_context(org, body.name, now=call.now)))


def get_context(call: ApiCall) -> Reply:
    """GET /context/{context_id}"""
    return Reply(_render_context(context_of(call)))


def delete_context(call: ApiCall) -> Reply:
    """DELETE /context/{context_id}"""
    call.world.delete_context(context_of(call).id)
    return Reply({"message": "Context deleted."})


def list_env_vars(call: ApiCall) -> Reply:
    """GET /context/{context_id}/environment-variable"""
    context = context_of(call)
    items = [_render_env(e) for e in call.world.context_env_vars(context.id)]
    return Reply(call.page(items, f"context-env:{context.id}"))


class _Value(msgspec.Struct, forbid_unknown_fields=True):
    value: str


def put_env_var(call: ApiCall) -> Reply:
    """PUT /context/{context_id}/environment-variable/{env_var_name}"""
    context = context_of(call)
    body = call.json(_Value)
    name = call.params["env_var_name"]
    if not name.replace("_", "").isalnum() or name[0].isdigit():
        raise ApiError(400, "Environment variable names must be letters, digits and '_'.")
    env = call.world.put_context_env_var(context.id, name, body.value, now=call.now)
    return Reply(_render_env(env))


def delete_env_var(call: ApiCall) -> Reply:
    """DELETE /context/{context_id}/environment-variable/{env_var_name}"""
    context = context_of(call)
    find(
        lambda: call.world.delete_context_env_var(context.id, call.params["env_var_name"]),
        "Environment variable not found.",
    )
    return Reply({"message": "Environment variable deleted."})


def list_restrictions(call: ApiCall) -> Reply:
    """GET /context/{context_id}/restrictions"""
    context = context_of(call)
    return Reply(
        call.page(
            call.world.context_restrictions(context.id),
            f"context-restrictions:{context.id}",
            render=lambda r: _render_restriction(r, listed=True),
        )
    )


class _NewRestriction(msgspec.Struct, forbid_unknown_fields=True):
    restriction_type: Literal["project", "expression", "group"] | None = None
    restriction_value: str | None = None


def create_restriction(call: ApiCall) -> Reply:
    """POST /context/{context_id}/restrictions"""
    context = context_of(call)
    body = call.json(_NewRestriction)
    if body.restriction_type is None or body.restriction_value is None:
        raise ApiError(400, "restriction_type and restriction_value are required.")
    try:
        restriction = call.world.create_context_restriction(
            context.id, body.restriction_type, body.restriction_value
        )
    except WorldError as exc:
        raise ApiError.from_world(exc) from None
    return Reply(_render_restriction(restriction, listed=False), 201)


def delete_restriction(call: ApiCall) -> Reply:
    """DELETE /context/{context_id}/restrictions/{restriction_id}"""
    context = context_of(call)
    restriction_id = call.uuid_param("restriction_id", "restriction_id")
    find(
        lambda: call.world.delete_context_restriction(context.id, restriction_id),
        "Restriction not found.",
    )
    return Reply({"message": "Context restriction deleted."})


ROUTES = (
    ApiRoute("GET", "/context", "listContexts", list_contexts),
    ApiRoute("POST", "/context", "createContext", create_context),
    ApiRoute("GET", "/context/{context_id}", "getContext", get_context),
    ApiRoute("DELETE", "/context/{context_id}", "deleteContext", delete_context),
    ApiRoute(
        "GET",
        "/context/{context_id}/environment-variable",
        "listEnvironmentVariablesFromContext",
        list_env_vars,
    ),
    ApiRoute(
        "PUT",
        "/context/{context_id}/environment-variable/{env_var_name}",
        "addEnvironmentVariableToContext",
        put_env_var,
    ),
    ApiRoute(
        "DELETE",
        "/context/{context_id}/environment-variable/{env_var_name}",
        "deleteEnvironmentVariableFromContext",
        delete_env_var,
    ),
    ApiRoute(
        "GET", "/context/{context_id}/restrictions", "getContextRestrictions", list_restrictions
    ),
    ApiRoute(
        "POST", "/context/{context_id}/restrictions", "createContextRestriction", create_restriction
    ),
    ApiRoute(
        "DELETE",
        "/context/{context_id}/restrictions/{restriction_id}",
        "deleteContextRestriction",
        delete_restriction,
    ),
)
