"""Organizations and their URL orb allow-lists.

The store starts with the world's organizations. Organizations created here are
seen by the families of this module's group (groups, usage exports, OTLP
exporters, allow-lists); a deleted one is gone for them too. The world's own
projects, pipelines and contexts are not touched by a delete.
"""

from __future__ import annotations

import random
import uuid
from typing import Any, Literal

import msgspec

from .._world import World, canonical_slug
from ._core import ApiCall, ApiError, ApiRoute, Reply

__all__ = ["ROUTES", "Org", "Organizations", "organization", "random_uuid"]

VcsType = Literal["github", "bitbucket", "circleci"]
Auth = Literal["github-oauth", "none", "bitbucket-oauth", "github-app"]
_SLUG_PREFIX = {"github": "gh", "bitbucket": "bb"}


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng``, so ids repeat for the same seed."""
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Org(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    slug: str
    vcs_type: str


class AllowListEntry(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    prefix: str
    auth: str


class Organizations:
    """Every organization by id, and each one's URL orb allow-list."""

    def __init__(self, world: World) -> None:
        self.rng = random.Random(f"world:{world.seed}:organizations")
        self.orgs: dict[str, Org] = {
            org.id: Org(id=org.id, name=org.name, slug=org.slug, vcs_type=org.vcs_type)
            for org in world.organizations
        }
        self.allow_lists: dict[str, dict[str, AllowListEntry]] = {oid: {} for oid in self.orgs}
        for org in self.orgs.values():
            if org.vcs_type in _SLUG_PREFIX:
                owner = "CircleCI-Public"
                self.add_entry(
                    org.id,
                    name=f"Allow URL orbs from raw.githubusercontent.com/{owner}",
                    prefix=f"https://raw.githubusercontent.com/{owner}/orbs/refs/heads/main/",
                    auth="none",
                )

    def find(self, key: str) -> Org:
        """By id or by slug (``gh``/``github`` alike, any case); ``KeyError`` if unknown."""
        found = self.orgs.get(key)
        if found is not None:
            return found
        wanted = canonical_slug(key)
        for org in self.orgs.values():
            if canonical_slug(org.slug) == wanted:
                return org
        raise KeyError(key)

    def create(self, name: str, vcs_type: str) -> Org:
        org_id = random_uuid(self.rng)
        prefix = _SLUG_PREFIX.get(vcs_type)
        slug = f"circleci/{org_id}" if prefix is None else f"{prefix}/{name}"
        org = Org(id=org_id, name=name, slug=slug, vcs_type=vcs_type)
        self.orgs[org.id] = org
        self.allow_lists[org.id] = {}
        return org

    def delete(self, org_id: str) -> None:
        del self.orgs[org_id]
        del self.allow_lists[org_id]

    def add_entry(self, org_id: str, *, name: str, prefix: str, auth: str) -> AllowListEntry:
        entry = AllowListEntry(id=random_uuid(self.rng), name=name, prefix=prefix, auth=auth)
        self.allow_lists[org_id][entry.id] = entry
        return entry


def organization(call: ApiCall, key: str) -> Org:
    """The organization ``key`` (id or slug) names; 404 when there is none."""
    try:
        return call.world.state(Organizations).find(key)
    except KeyError:
        raise ApiError(404, "Organization not found.") from None


def _render_org(org: Org) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "slug": org.slug, "vcs_type": org.vcs_type}


def _render_entry(entry: AllowListEntry) -> dict[str, Any]:
    return {"id": entry.id, "name": entry.name, "prefix": entry.prefix, "auth": entry.auth}


class _NewOrganization(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    vcs_type: VcsType


def create_organization(call: ApiCall) -> Reply:
    """POST /organization"""
    body = call.json(_NewOrganization)
    name = body.name.strip()
    if not name:
        raise ApiError(400, "name must not be empty.")
    if body.vcs_type in _SLUG_PREFIX and ("/" in name or not name.isprintable()):
        raise ApiError(400, "name is not a valid organization name.")
    store = call.world.state(Organizations)
    if body.vcs_type in _SLUG_PREFIX:
        try:
            store.find(f"{_SLUG_PREFIX[body.vcs_type]}/{name}")
        except KeyError:
            pass
        else:
            raise ApiError(409, "An organization with this name already exists.")
    return Reply(_render_org(store.create(name, body.vcs_type)), 201)


def get_organization(call: ApiCall) -> Reply:
    """GET /organization/{org-slug-or-id}"""
    return Reply(_render_org(organization(call, call.params["org-slug-or-id"])))


def delete_organization(call: ApiCall) -> Reply:
    """DELETE /organization/{org-slug-or-id}"""
    org = organization(call, call.params["org-slug-or-id"])
    call.world.state(Organizations).delete(org.id)
    return Reply({"message": "Organization deleted."}, 202)


def list_allow_list(call: ApiCall) -> Reply:
    """GET /organization/{org-slug-or-id}/url-orb-allow-list"""
    org = organization(call, call.params["org-slug-or-id"])
    entries = call.world.state(Organizations).allow_lists[org.id].values()
    return Reply({"items": [_render_entry(entry) for entry in entries]})


class _NewEntry(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    prefix: str
    auth: Auth


def create_allow_list_entry(call: ApiCall) -> Reply:
    """POST /organization/{org-slug-or-id}/url-orb-allow-list"""
    org = organization(call, call.params["org-slug-or-id"])
    body = call.json(_NewEntry)
    if not body.name.strip():
        raise ApiError(400, "name must not be empty.")
    if not body.prefix.startswith("https://") or len(body.prefix) <= len("https://"):
        raise ApiError(400, "prefix must be an https:// URL.")
    store = call.world.state(Organizations)
    entry = store.add_entry(org.id, name=body.name, prefix=body.prefix, auth=body.auth)
    return Reply({"id": entry.id, "message": "Created."})


def remove_allow_list_entry(call: ApiCall) -> Reply:
    """DELETE /organization/{org-slug-or-id}/url-orb-allow-list/{allow-list-entry-id}"""
    org = organization(call, call.params["org-slug-or-id"])
    entries = call.world.state(Organizations).allow_lists[org.id]
    entry = entries.pop(call.params["allow-list-entry-id"], None)
    if entry is None:
        raise ApiError(404, "URL orb allow-list entry not found.")
    return Reply({"id": entry.id, "message": "Deleted."})


ROUTES = (
    ApiRoute("POST", "/organization", "createOrganization", create_organization),
    ApiRoute("GET", "/organization/{org-slug-or-id}", "getOrganization", get_organization),
    ApiRoute("DELETE", "/organization/{org-slug-or-id}", "deleteOrganization", delete_organization),
    ApiRoute(
        "GET",
        "/organization/{org-slug-or-id}/url-orb-allow-list",
        "listURLOrbAllowListEntries",
        list_allow_list,
    ),
    ApiRoute(
        "POST",
        "/organization/{org-slug-or-id}/url-orb-allow-list",
        "createURLOrbAllowListEntry",
        create_allow_list_entry,
    ),
    ApiRoute(
        "DELETE",
        "/organization/{org-slug-or-id}/url-orb-allow-list/{allow-list-entry-id}",
        "removeURLOrbAllowListEntry",
        remove_allow_list_entry,
    ),
)
