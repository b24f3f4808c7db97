"""The Organization operations of API v2."""

from __future__ import annotations

from ..models import (
    Message,
    Model,
    Organization,
    OrganizationVcsType,
    Page,
    URLOrbAllowListAuth,
    URLOrbAllowListChange,
    URLOrbAllowListEntry,
)
from ._base import APIBase, seg

__all__ = ["OrganizationAPI"]


def org_path(org: str) -> str:
    """An org id, or a slug such as ``gh/my-org``, for a path (each segment encoded)."""
    parts = org.strip().strip("/").split("/")
    if not all(parts) or len(parts) > 2:
        raise ValueError(
            f"invalid organization {org!r}: expected an org id or a slug such as gh/my-org"
        )
    return "/".join(seg(part) for part in parts)


class _NewOrganization(Model, frozen=True):
    name: str
    vcs_type: str


class _NewAllowListEntry(Model, frozen=True):
    name: str
    prefix: str
    auth: str


class OrganizationAPI(APIBase):
    """Organization: creating, fetching and deleting organizations; URL orb allow-lists.

    ``org`` is an organization id or its slug (``gh/my-org``, ``circleci/<org-id>``).
    """

    async def create_organization(
        self, *, name: str, vcs_type: OrganizationVcsType | str
    ) -> Organization:
        """POST /organization

        Create a standalone organization (``vcs_type="circleci"``) or set up a VCS one.
        """
        body = _NewOrganization(name=name, vcs_type=str(vcs_type))
        return await self._call("POST", "/organization", Organization, json=body)

    async def get_organization(self, org: str) -> Organization:
        """GET /organization/{org-slug-or-id}

        An organization by id or slug.
        """
        return await self._call("GET", f"/organization/{org_path(org)}", Organization)

    async def delete_organization(self, org: str) -> Message:
        """DELETE /organization/{org-slug-or-id}

        Delete an organization with all its projects and their build data.
        """
        return await self._call("DELETE", f"/organization/{org_path(org)}", Message)

    async def url_orb_allow_list(self, org: str) -> list[URLOrbAllowListEntry]:
        """GET /organization/{org-slug-or-id}/url-orb-allow-list

        The entries of an organization's URL orb allow-list (one answer, not paged).
        """
        page = await self._call(
            "GET",
            f"/organization/{org_path(org)}/url-orb-allow-list",
            Page[URLOrbAllowListEntry],
        )
        return self._shaped(page, lambda p: p.items)

    async def create_url_orb_allow_list_entry(
        self, org: str, *, name: str, prefix: str, auth: URLOrbAllowListAuth | str
    ) -> URLOrbAllowListChange:
        """POST /organization/{org-slug-or-id}/url-orb-allow-list

        Allow URL orbs whose address starts with ``prefix``, fetched with ``auth``.
        """
        body = _NewAllowListEntry(name=name, prefix=prefix, auth=str(auth))
        return await self._call(
            "POST",
            f"/organization/{org_path(org)}/url-orb-allow-list",
            URLOrbAllowListChange,
            json=body,
        )

    async def remove_url_orb_allow_list_entry(
        self, org: str, entry_id: str
    ) -> URLOrbAllowListChange:
        """DELETE /organization/{org-slug-or-id}/url-orb-allow-list/{allow-list-entry-id}

        Remove one entry from an organization's URL orb allow-list.
        """
        return await self._call(
            "DELETE",
            f"/organization/{org_path(org)}/url-orb-allow-list/{seg(entry_id)}",
            URLOrbAllowListChange,
        )
