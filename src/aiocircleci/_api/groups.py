"""The Groups operations of API v2."""

from __future__ import annotations

from .._pagination import Paginator
from ..models import Group, Message, Model
from ._base import APIBase, seg

__all__ = ["GroupsAPI"]


class _NewGroup(Model, frozen=True):
    name: str
    description: str | None = None


class GroupsAPI(APIBase):
    """Groups: the user groups of an organization (standalone organizations only)."""

    def groups(self, org_id: str, *, limit: int | None = None) -> Paginator[Group]:
        """GET /organizations/{org_id}/groups

        The groups of an organization.
        """
        return self._paginate(f"/organizations/{seg(org_id)}/groups", Group, limit=limit)

    async def create_group(
        self, org_id: str, *, name: str, description: str | None = None
    ) -> Group:
        """POST /organizations/{org_id}/groups

        Create a group in a standalone organization; names are unique within it.
        """
        return await self._call(
            "POST",
            f"/organizations/{seg(org_id)}/groups",
            Group,
            json=_NewGroup(name=name, description=description),
        )

    async def get_group(self, org_id: str, group_id: str) -> Group:
        """GET /organizations/{org_id}/groups/{group_id}

        A group of an organization, without its members.
        """
        return await self._call(
            "GET", f"/organizations/{seg(org_id)}/groups/{seg(group_id)}", Group
        )

    async def delete_group(self, org_id: str, group_id: str) -> Message:
        """DELETE /organizations/{org_id}/groups/{group_id}

        Delete a group, its memberships and the roles granted through it.
        """
        return await self._call(
            "DELETE", f"/organizations/{seg(org_id)}/groups/{seg(group_id)}", Message
        )
