"""What every area of the API builds on: a typed call and a typed listing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from .._pagination import Paginator
from .._requester import Requester
from .._slug import ProjectSlug
from ..models import Page

__all__ = ["APIBase", "seg", "slug_path"]

T = TypeVar("T")


def seg(value: object) -> str:
    """One path segment, percent-encoded (ids, names, numbers)."""
    return quote(str(value), safe="")


def slug_path(slug: str | ProjectSlug) -> str:
    """A project slug for a path; raises ``ValueError`` before any request if malformed."""
    return ProjectSlug.parse(slug).path


class APIBase:
    """The two primitives the per-area mixins use."""

    _requester: Requester

    async def _call(
        self,
        method: str,
        path: str,
        type_: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> T:
        result: T = await self._requester.call(method, path, params=params, json=json, type=type_)
        return result

    async def _call_no_content(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> None:
        await self._requester.call(method, path, params=params, json=json, type=None)

    def _paginate(
        self,
        path: str,
        item: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        limit: int | None = None,
    ) -> Paginator[T]:
        """A listing that passes ``next_page_token`` back as ``page-token``.

        The filters in ``params`` are sent again with every page.
        """
        base = dict(params or {})
        page_type = Page[item]  # type: ignore[valid-type]

        async def fetch(token: str | None) -> Page[T]:
            query = {**base, "page-token": token}
            page: Page[T] = await self._requester.call("GET", path, params=query, type=page_type)
            return page

        return Paginator(fetch, limit=limit, what=f"GET {path}")
