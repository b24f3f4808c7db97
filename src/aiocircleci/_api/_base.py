"""What every area of the API builds on: a typed call and a typed listing."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import quote

import msgspec

from .._decode import Decoding
from .._pagination import Paginator
from .._requester import Requester
from .._slug import ProjectSlug
from ..models import Page

__all__ = ["APIBase", "describe", "seg", "slug_path"]

T = TypeVar("T")
R = TypeVar("R")


def seg(value: object) -> str:
    """One path segment, percent-encoded (ids, names, numbers)."""
    return quote(str(value), safe="")


def slug_path(slug: str | ProjectSlug) -> str:
    """A project slug for a path; raises ``ValueError`` before any request if malformed."""
    return ProjectSlug.parse(slug).path


class APIBase:
    """The primitives the per-area mixins use.

    ``_raw`` is set on the view ``Client.raw`` returns: every call then answers
    the body's plain JSON (listings yield plain JSON items), never a model.
    """

    _requester: Requester
    _decoding: Decoding
    _raw: bool = False

    async def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any
    ) -> bytes:
        requester = self._requester
        body = None if json is None else msgspec.json.encode(json)
        response = await requester.send(method, requester.url_for(path), params=params, body=body)
        return response.body

    async def _call(
        self,
        method: str,
        path: str,
        type_: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> T:
        body = await self._send(method, path, params, json)
        where = functools.partial(describe, method, path)
        if self._raw:
            raw: T = self._decoding.decode(body, Any, where)
            return raw
        result: T = self._decoding.decode(body, type_, where)
        return result

    def _shaped(self, data: Any, shape: Callable[[Any], R]) -> R:
        """``shape(data)``; on the raw view, ``data`` itself (it answers plain JSON)."""
        if self._raw:
            raw: R = data
            return raw
        return shape(data)

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
        where = functools.partial(describe, "GET", path)
        item_type: Any = Any if self._raw else item

        async def fetch(token: str | None) -> Page[T]:
            query = {**base, "page-token": token}
            body = await self._send("GET", path, query, None)
            page: Page[T] = self._decoding.decode_page(body, item_type, where)
            return page

        return Paginator(fetch, limit=limit, what=f"GET {path}")


# ------------------------------------------------ which method, which endpoint

_OPERATION = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/\S*)$")


@functools.cache
def _endpoints() -> tuple[tuple[str, re.Pattern[str], int, str, str], ...]:
    """(HTTP method, path pattern, literal segments, template, method name) of every operation."""
    found = []
    stack = list(APIBase.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        for name, member in vars(cls).items():
            doc = inspect.getdoc(member) if callable(member) and not name.startswith("_") else None
            match = _OPERATION.match((doc or "").split("\n")[0])
            if match is None:
                continue
            template = match[2]
            pattern = "".join(
                ("[^/]+/[^/]+/[^/]+" if part == "{project-slug}" else "[^/]+")
                if part.startswith("{")
                else re.escape(part)
                for part in re.split(r"(\{[^}]*\})", template)
            )
            literal = sum(1 for part in template.split("/") if part and "{" not in part)
            found.append((match[1], re.compile(pattern + "$"), literal, template, name))
    return tuple(sorted(set(found), key=lambda e: -e[2]))


def describe(method: str, path: str) -> str:
    """``Client.get_pipeline (GET /pipeline/{pipeline-id})`` for a request, or ``GET path``."""
    for http, pattern, _, template, name in _endpoints():
        if http == method and pattern.match(path):
            return f"Client.{name} ({http} {template})"
    return f"{method} {redact_path(path)}"


def redact_path(path: str) -> str:
    return path.split("?", 1)[0]
