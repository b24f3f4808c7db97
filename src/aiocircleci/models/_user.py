from __future__ import annotations

from typing import ClassVar

from ._base import Model

__all__ = ["Collaboration", "User"]


class User(Model, frozen=True):
    """``GET /me``: the user a token belongs to."""

    id: str
    login: str | None = None
    name: str | None = None
    avatar_url: str | None = None


class Collaboration(Model, frozen=True):
    """An organization the token's user can see (``GET /me/collaborations``).

    The live API sends ``vcs_type``, the spec ``vcs-type``: both decode. Older
    bodies have no ``id`` or ``slug``, so ``name`` is what identifies one.
    """

    __spellings__: ClassVar[dict[str, str]] = {"vcs-type": "vcs_type"}

    name: str
    id: str | None = None
    vcs_type: str | None = None
    slug: str | None = None
    avatar_url: str | None = None
