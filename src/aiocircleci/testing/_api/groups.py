"""Groups of an organization.

Only standalone organizations (``circleci/<org-id>``) have groups, so creating one
elsewhere is refused. A group's description is kept but not shown: the spec's
``group`` schema has only ``id`` and ``name`` and forbids anything more.
"""

from __future__ import annotations

import random
from typing import Any

import msgspec

from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply
from .organizations import Org, organization, random_uuid

__all__ = ["ROUTES", "Groups"]

_SEEDED = (
    ("Project A Editors", "Users in this group have edit access to Project A."),
    ("Release Managers", "Can approve production deploys."),
    ("Viewers", None),
)


class Group(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str | None


class Groups:
    """Each organization's groups by id, in the order they were made."""

    def __init__(self, world: World) -> None:
        self.rng = random.Random(f"world:{world.seed}:groups")
        self.by_org: dict[str, dict[str, Group]] = {}
        for org in world.organizations:
            if org.vcs_type == "circleci":
                for name, description in _SEEDED:
                    self.add(org.id, name, description)

    def of(self, org_id: str) -> dict[str, Group]:
        return self.by_org.setdefault(org_id, {})

    def add(self, org_id: str, name: str, description: str | None) -> Group:
        group = Group(id=random_uuid(self.rng), name=name, description=description)
        self.of(org_id)[group.id] = group
        return group


def _render(group: Group) -> dict[str, Any]:
    return {"id": group.id, "name": group.name}


def _org(call: ApiCall) -> Org:
    return organization(call, call.params["org_id"])


def _group(call: ApiCall, org: Org) -> Group:
    found = call.world.state(Groups).of(org.id).get(call.params["group_id"])
    if found is None:
        raise ApiError(404, "Group not found.")
    return found


def list_groups(call: ApiCall) -> Reply:
    """GET /organizations/{org_id}/groups"""
    org = _org(call)
    items = list(call.world.state(Groups).of(org.id).values())
    page = call.page(items, f"groups:{org.id}", render=_render)
    return Reply({**page, "total_count": len(items)})


class _NewGroup(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    description: str | None = None


def create_group(call: ApiCall) -> Reply:
    """POST /organizations/{org_id}/groups"""
    org = _org(call)
    body = call.json(_NewGroup)
    if org.vcs_type != "circleci":
        raise ApiError(400, "Groups are only supported for standalone organizations.")
    name = body.name.strip()
    if not name:
        raise ApiError(400, "name must not be empty.")
    groups = call.world.state(Groups)
    if any(g.name.lower() == name.lower() for g in groups.of(org.id).values()):
        raise ApiError(409, "A group with this name already exists.")
    return Reply(_render(groups.add(org.id, name, body.description)), 201)


def get_group(call: ApiCall) -> Reply:
    """GET /organizations/{org_id}/groups/{group_id}"""
    return Reply(_render(_group(call, _org(call))))


def delete_group(call: ApiCall) -> Reply:
    """DELETE /organizations/{org_id}/groups/{group_id}"""
    org = _org(call)
    group = _group(call, org)
    del call.world.state(Groups).of(org.id)[group.id]
    return Reply({"message": "Group deleted."})


ROUTES = (
    ApiRoute("GET", "/organizations/{org_id}/groups", "getOrganizationGroups", list_groups),
    ApiRoute("POST", "/organizations/{org_id}/groups", "createOrganizationGroup", create_group),
    ApiRoute("GET", "/organizations/{org_id}/groups/{group_id}", "getGroup", get_group),
    ApiRoute("DELETE", "/organizations/{org_id}/groups/{group_id}", "deleteGroup", delete_group),
)
