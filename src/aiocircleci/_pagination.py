"""Async iteration over ``next_page_token`` pages."""

from __future__ import annotations

import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

from .models import Page

__all__ = ["PaginationWarning", "Paginator"]

T = TypeVar("T")
log = logging.getLogger("aiocircleci")


class PaginationWarning(UserWarning):
    """The server handed back a page token it had already given: iteration stopped."""


class Paginator(Generic[T]):
    """An async iterator over every item of a listing, page by page.

    ``async for item in paginator`` yields items; ``paginator.pages()`` yields
    whole pages. ``limit`` stops after that many items. Pages are fetched
    lazily, one at a time, as the caller consumes them.

    A token already seen (an endpoint that ignores ``page-token`` serves the
    same page for ever) stops the iteration with a ``PaginationWarning`` rather
    than looping; a page identical to the one before it is not yielded twice.
    """

    __slots__ = ("_fetch", "_limit", "_what")

    def __init__(
        self,
        fetch: Callable[[str | None], Awaitable[Page[T]]],
        *,
        limit: int | None = None,
        what: str = "listing",
    ) -> None:
        if limit is not None and limit < 0:
            raise ValueError("limit must be zero or more")
        self._fetch = fetch
        self._limit = limit
        self._what = what

    async def pages(self) -> AsyncIterator[Page[T]]:
        remaining = self._limit
        if remaining == 0:
            return
        seen: set[str] = set()
        token: str | None = None
        previous: list[T] | None = None
        while True:
            page = await self._fetch(token)
            if previous is not None and page.items == previous:
                self._warn_repeat(token)
                return
            if remaining is not None and len(page.items) >= remaining:
                yield Page(items=page.items[:remaining], next_page_token=page.next_page_token)
                return
            yield page
            if remaining is not None:
                remaining -= len(page.items)
            token = page.next_page_token
            if not token:
                return
            if token in seen:
                self._warn_repeat(token)
                return
            seen.add(token)
            previous = page.items

    def _warn_repeat(self, token: str | None) -> None:
        message = (
            f"{self._what}: the server returned a page token it had already sent; "
            "stopping instead of looping"
        )
        log.warning(message)
        warnings.warn(message, PaginationWarning, stacklevel=3)

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    async def collect(self) -> list[T]:
        """Every item, as a list."""
        return [item async for item in self]

    def __repr__(self) -> str:
        return f"<Paginator {self._what} limit={self._limit}>"
