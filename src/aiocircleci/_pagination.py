"""Async iteration over ``next_page_token`` pages."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from .models import Page

__all__ = ["ItemIterator", "PageIterator", "PaginationWarning", "Paginator"]

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

    def pages(self) -> PageIterator[T]:
        """Whole pages, fetched one at a time as the caller asks for them."""
        return PageIterator(self)

    def __aiter__(self) -> ItemIterator[T]:
        return ItemIterator(PageIterator(self))

    async def collect(self) -> list[T]:
        """Every item, as a list."""
        return [item async for item in self]

    def __repr__(self) -> str:
        return f"<Paginator {self._what} limit={self._limit}>"


def _warn_repeat(what: str) -> None:
    message = (
        f"{what}: the server returned a page token it had already sent; stopping instead of looping"
    )
    log.warning(message)
    warnings.warn(message, PaginationWarning, stacklevel=4)


# Plain iterator classes rather than async generators: a caller that breaks out
# of an ``async for`` leaves nothing to finalize (an abandoned async generator
# makes asyncio schedule its aclose() from the garbage collector).


class PageIterator(Generic[T]):
    """The pages of a ``Paginator``; ``aclose()`` stops it early."""

    __slots__ = ("_done", "_paginator", "_previous", "_remaining", "_seen", "_token")

    def __init__(self, paginator: Paginator[T]) -> None:
        self._paginator = paginator
        self._remaining = paginator._limit
        self._done = self._remaining == 0
        self._seen: set[str] = set()
        self._token: str | None = None
        self._previous: list[T] | None = None

    def __aiter__(self) -> PageIterator[T]:
        return self

    async def aclose(self) -> None:
        """Stop early (as an async generator's ``aclose``): no further page is fetched."""
        self._done = True

    async def __anext__(self) -> Page[T]:
        if self._done:
            raise StopAsyncIteration
        page = await self._paginator._fetch(self._token)
        if self._previous is not None and page.items == self._previous:
            # The same page again: an endpoint that ignores page-token.
            self._done = True
            _warn_repeat(self._paginator._what)
            raise StopAsyncIteration
        remaining = self._remaining
        if remaining is not None:
            if len(page.items) >= remaining:
                self._done = True
                return Page(items=page.items[:remaining], next_page_token=page.next_page_token)
            self._remaining = remaining - len(page.items)
        token = page.next_page_token
        if not token:
            self._done = True
        elif token in self._seen:
            self._done = True
            _warn_repeat(self._paginator._what)
        else:
            self._seen.add(token)
            self._token = token
            self._previous = page.items
        return page


class ItemIterator(Generic[T]):
    """The items of a ``Paginator``, page after page; ``aclose()`` stops it early."""

    __slots__ = ("_items", "_pages")

    def __init__(self, pages: PageIterator[T]) -> None:
        self._pages = pages
        self._items: Iterator[T] = iter(())

    def __aiter__(self) -> ItemIterator[T]:
        return self

    async def aclose(self) -> None:
        """Stop early: no further item or page is fetched."""
        self._items = iter(())
        await self._pages.aclose()

    async def __anext__(self) -> T:
        while True:
            for item in self._items:
                return item
            page = await self._pages.__anext__()
            self._items = iter(page.items)
