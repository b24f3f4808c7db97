"""The Context operations of API v2."""

from __future__ import annotations

import functools
from typing import Any, Literal

import msgspec

from .._pagination import Paginator
from ..models import Context, ContextEnvVar, ContextRestriction, Message
from ._base import APIBase, describe, seg

__all__ = ["ContextAPI"]

OwnerType = Literal["account", "organization"]
RestrictionKind = Literal["project", "expression", "group"]


class _OwnerById(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    type: OwnerType | None = None


class _OwnerBySlug(msgspec.Struct, frozen=True):
    slug: str
    type: Literal["organization"] = "organization"


class _NewContext(msgspec.Struct, frozen=True):
    name: str
    owner: _OwnerById | _OwnerBySlug


class _Value(msgspec.Struct, frozen=True):
    value: str


class _NewRestriction(msgspec.Struct, frozen=True):
    restriction_type: RestrictionKind
    restriction_value: str


def _one_owner(owner_id: str | None, owner_slug: str | None) -> None:
    if (owner_id is None) == (owner_slug is None):
        raise ValueError("give exactly one of owner_id and owner_slug")


def _owner(
    owner_id: str | None, owner_slug: str | None, owner_type: OwnerType | None
) -> _OwnerById | _OwnerBySlug:
    _one_owner(owner_id, owner_slug)
    if owner_id is not None:
        return _OwnerById(id=owner_id, type=owner_type)
    if owner_type not in (None, "organization"):
        raise ValueError("an owner given by slug is an organization")
    return _OwnerBySlug(slug=str(owner_slug))


class ContextAPI(APIBase):
    """Context: contexts, their environment variables and their restrictions."""

    def contexts(
        self,
        *,
        owner_id: str | None = None,
        owner_slug: str | None = None,
        owner_type: OwnerType | None = None,
        limit: int | None = None,
    ) -> Paginator[Context]:
        """GET /context

        The contexts of an owner, given by id or by slug (``gh/my-org``).
        """
        _one_owner(owner_id, owner_slug)
        params = {"owner-id": owner_id, "owner-slug": owner_slug, "owner-type": owner_type}
        return self._paginate("/context", Context, params=params, limit=limit)

    async def create_context(
        self,
        name: str,
        *,
        owner_id: str | None = None,
        owner_slug: str | None = None,
        owner_type: OwnerType | None = None,
    ) -> Context:
        """POST /context

        Create a context for an owner given by id or by slug (an organization's).
        """
        owner = _owner(owner_id, owner_slug, owner_type)
        return await self._call(
            "POST", "/context", Context, json=_NewContext(name=name, owner=owner)
        )

    async def get_context(self, context_id: str) -> Context:
        """GET /context/{context_id}

        A context by id.
        """
        return await self._call("GET", f"/context/{seg(context_id)}", Context)

    async def delete_context(self, context_id: str) -> Message:
        """DELETE /context/{context_id}

        Delete a context with its environment variables and restrictions.
        """
        return await self._call("DELETE", f"/context/{seg(context_id)}", Message)

    def context_env_vars(
        self, context_id: str, *, limit: int | None = None
    ) -> Paginator[ContextEnvVar]:
        """GET /context/{context_id}/environment-variable

        The environment variables of a context (names and times; never values).
        """
        return self._paginate(
            f"/context/{seg(context_id)}/environment-variable", ContextEnvVar, limit=limit
        )

    async def set_context_env_var(
        self, context_id: str, name: str, value: str
    ) -> ContextEnvVar | Message:
        """PUT /context/{context_id}/environment-variable/{env_var_name}

        Add or replace an environment variable of a context. The spec allows a bare
        ``Message`` as the answer instead of the variable.
        """
        path = f"/context/{seg(context_id)}/environment-variable/{seg(name)}"
        body: dict[str, Any] = await self._call("PUT", path, dict[str, Any], json=_Value(value))
        answer: type[ContextEnvVar | Message] = Message
        if "variable" in body or "message" not in body:
            answer = ContextEnvVar
        where = functools.partial(describe, "PUT", path)
        result: ContextEnvVar | Message = self._shaped(
            body, lambda b: self._decoding.convert(b, answer, where)
        )
        return result

    async def delete_context_env_var(self, context_id: str, name: str) -> Message:
        """DELETE /context/{context_id}/environment-variable/{env_var_name}

        Delete an environment variable of a context.
        """
        return await self._call(
            "DELETE", f"/context/{seg(context_id)}/environment-variable/{seg(name)}", Message
        )

    def context_restrictions(
        self, context_id: str, *, limit: int | None = None
    ) -> Paginator[ContextRestriction]:
        """GET /context/{context_id}/restrictions

        The project, expression and group restrictions of a context.
        """
        return self._paginate(
            f"/context/{seg(context_id)}/restrictions", ContextRestriction, limit=limit
        )

    async def create_context_restriction(
        self, context_id: str, restriction_type: RestrictionKind, restriction_value: str
    ) -> ContextRestriction:
        """POST /context/{context_id}/restrictions

        Restrict a context to a project (by id), a group (by id), or an expression.
        """
        body = _NewRestriction(restriction_type, restriction_value)
        return await self._call(
            "POST", f"/context/{seg(context_id)}/restrictions", ContextRestriction, json=body
        )

    async def delete_context_restriction(self, context_id: str, restriction_id: str) -> Message:
        """DELETE /context/{context_id}/restrictions/{restriction_id}

        Remove a restriction from a context.
        """
        return await self._call(
            "DELETE", f"/context/{seg(context_id)}/restrictions/{seg(restriction_id)}", Message
        )
