"""The base of every model, and the decoding policy every model follows.

The live API is not its spec, and it changes without notice. So:

- **Required** is only what a caller cannot do without: an entity's identity
  (its ``id``; its ``number``, ``slug`` or ``name`` where it has no id; an
  artifact's ``node_index``, ``path`` and ``url``; a pipeline's number, project
  and creation time, which every listing sorts and files by) and a page's
  ``items``. Every other field defaults to ``None``, or to an empty list.
- **null** is accepted wherever a value may be missing: a field that is not
  required and meets ``null`` takes its default.
- **Both spellings** decode where the live API and the spec differ
  (``vcs_type``/``vcs-type``, the flaky tests' snake_case/kebab-case keys). The
  model has one attribute, named as the live API spells it; a model lists the
  other spellings in ``__spellings__``.
- **Unknown enum values** decode: a ``StatusEnum`` field meeting a value it does
  not know holds a member whose ``.name`` is ``UNKNOWN`` and whose ``.value``
  (and ``str()``) is the raw string, and whose ``is_unknown`` is true.
- **Timestamps** decode with or without fractional seconds, with ``Z`` or an
  offset (RFC 3339, as msgspec reads it).
- **Listings are lenient per item**: an item that still does not decode is
  skipped with a ``DecodeWarning`` (and a log record) naming the method, the
  endpoint, the item's index and the JSON path; the rest of the page is kept.

``Client(strict=True)`` turns the tolerance off: a ``null`` where the model
holds a value, an unknown enum value or a bad item raises ``DecodeError``.
``client.raw`` answers plain JSON. The machinery is in ``aiocircleci._decode``.
"""

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
    """A string enum that keeps values it does not know.

    An unknown value becomes a member named ``UNKNOWN`` whose value is the raw
    string, so ``str(status)`` shows what CircleCI sent and ``status.is_unknown``
    is true. It equals no known member (not even ``UNKNOWN``, unless CircleCI
    sent ``"unknown"``).
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str) or "UNKNOWN" not in cls.__members__:
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        # Kept as enum.Flag keeps its pseudo-members: the next lookup is a dict hit.
        cls._value2member_map_.setdefault(value, member)
        return member

    @property
    def is_unknown(self) -> bool:
        """Whether CircleCI sent a value this model does not know."""
        return self._name_ == "UNKNOWN"


class Page(Model, Generic[T], frozen=True):
    """One page of a listing: ``items`` and the token of the next page (``None`` at the end)."""

    items: list[T]
    next_page_token: str | None = None


@functools.cache
def decoder(type_: Any) -> msgspec.json.Decoder[Any]:
    """One reusable decoder per type (msgspec's advice for speed)."""
    return msgspec.json.Decoder(type_)
