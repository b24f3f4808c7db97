"""The token's user and the organizations it sees."""

from __future__ import annotations

from typing import Any

from .._entities import User
from ._core import ApiCall, ApiRoute, Reply, find

__all__ = ["ROUTES"]


def _render_user(user: User) -> dict[str, Any]:
    return {"id": user.id, "login": user.login, "name": user.name, "avatar_url": user.avatar_url}


def me(call: ApiCall) -> Reply:
    """GET /me"""
    return Reply(_render_user(call.world.user))


def collaborations(call: ApiCall) -> Reply:
    """GET /me/collaborations"""
    return Reply(
        [
            {
                "id": org.id,
                "vcs-type": org.vcs_type,
                "name": org.name,
                "avatar_url": org.avatar_url,
                "slug": org.slug,
            }
            for org in call.world.organizations
        ]
    )


def get_user(call: ApiCall) -> Reply:
    """GET /user/{id}"""
    user_id = call.uuid_param("id", "id")
    return Reply(_render_user(find(lambda: call.world.user_by_id(user_id), "User not found")))


ROUTES = (
    ApiRoute("GET", "/me", "getCurrentUser", me),
    ApiRoute("GET", "/me/collaborations", "getCollaborations", collaborations),
    ApiRoute("GET", "/user/{id}", "getUser", get_user),
)
