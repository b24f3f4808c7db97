"""Opaque page tokens, and pages that stay put while the world changes.

A token names a position in one list (its *scope*: endpoint plus filters) and is
signed, so a token from another list or a made-up one is refused with 400. For
newest-first lists the position counts from the oldest end: a pipeline
triggered between two page requests shows up on page one next time, but does not
shift later pages, just as cursor pagination on the real service behaves.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["PageTokenError", "Pager"]

T = TypeVar("T")

_POSITION = struct.Struct(">I")
_MAC_SIZE = 10


class PageTokenError(ValueError):
    """The page-token was not made by this server for this list."""


class Pager:
    """Cuts lists into pages of ``size`` and signs the tokens that lead on."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, scope: str, position: int) -> bytes:
        message = scope.encode() + b"\x00" + _POSITION.pack(position)
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_SIZE]

    def encode(self, scope: str, position: int) -> str:
        raw = _POSITION.pack(position) + self._mac(scope, position)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    def decode(self, scope: str, token: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            raise PageTokenError(token) from None
        if len(raw) != _POSITION.size + _MAC_SIZE:
            raise PageTokenError(token)
        position: int = _POSITION.unpack_from(raw)[0]
        if not hmac.compare_digest(raw[_POSITION.size :], self._mac(scope, position)):
            raise PageTokenError(token)
        return position

    def page(
        self,
        items: Sequence[T],
        *,
        scope: str,
        token: str | None,
        size: int,
        from_end: bool = False,
    ) -> tuple[Sequence[T], str | None]:
        """The page ``token`` points at, and the token of the page after it (or ``None``).

        ``from_end`` marks a newest-first list that grows at the front.
        """
        total = len(items)
        start = 0
        if token:
            position = self.decode(scope, token)
            start = total - position if from_end else position
            start = min(max(start, 0), total)
        stop = start + size
        if stop >= total:
            return items[start:], None
        next_position = total - stop if from_end else stop
        return items[start:stop], self.encode(scope, next_position)
