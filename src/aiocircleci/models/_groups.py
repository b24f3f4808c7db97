"""Models of the Groups operations."""

from __future__ import annotations

from ._base import Model

__all__ = ["Group"]


class Group(Model, frozen=True):
    """A group of users in an organization (members are not included).

    The spec's ``group`` schema has only ``id`` and ``name``, while its examples
    also show the ``description`` given at creation; it is kept when sent.
    """

    id: str
    name: str | None = None
    description: str | None = None
