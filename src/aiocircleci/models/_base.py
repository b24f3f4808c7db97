"""The base of every model: frozen, keyword-only, tolerant msgspec Structs."""

from __future__ import annotations

import enum
import functools
from typing import Any, Generic, TypeVar

import msgspec

__all__ = ["Model", "Page", "StatusEnum"]

T = TypeVar("T")


class Model(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """Base of all API models.

    Unknown fields are ignored, so a field CircleCI adds tomorrow breaks nobody;
    fields the spec marks optional default to ``None``.
    """


class StatusEnum(enum.StrEnum):
    """A string enum that decodes values it does not know to ``UNKNOWN``."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return cls.__members__.get("UNKNOWN")


class Page(Model, Generic[T], frozen=True):
    """One page of a listing: ``items`` and the token of the next page (``None`` at the end)."""

    items: list[T]
    next_page_token: str | None = None


@functools.cache
def decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    """One reusable decoder per type (msgspec's advice for speed)."""
    return msgspec.json.Decoder(type_)
