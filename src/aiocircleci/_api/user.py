from __future__ import annotations

from ..models import Collaboration, User
from ._base import APIBase, seg

__all__ = ["UserAPI"]


class UserAPI(APIBase):
    """User: who the token belongs to and what it can see."""

    async def me(self) -> User:
        """GET /me

        The user the token belongs to.
        """
        return await self._call("GET", "/me", User)

    async def collaborations(self) -> list[Collaboration]:
        """GET /me/collaborations

        The organizations the token's user can see.
        """
        return await self._call("GET", "/me/collaborations", list[Collaboration])

    async def get_user(self, user_id: str) -> User:
        """GET /user/{id}

        A user by id.
        """
        return await self._call("GET", f"/user/{seg(user_id)}", User)
