from __future__ import annotations

from ._base import Model

__all__ = ["Collaboration", "User"]


class User(Model, frozen=True):
    """``GET /me``: the user a token belongs to."""

    id: str
    login: str
    name: str
    avatar_url: str | None = None


class Collaboration(Model, frozen=True, rename={"vcs_type": "vcs-type"}):
    """An organization the token's user can see (``GET /me/collaborations``)."""

    id: str | None
    vcs_type: str
    name: str
    slug: str
    avatar_url: str | None = None
