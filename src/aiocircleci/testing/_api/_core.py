"""What every API resource module builds on: routes, calls, replies, errors.

A handler is a plain synchronous function ``(call: ApiCall) -> Reply``: the
server has already read the body, checked the token and the rate limit, and it
encodes the reply and injects faults afterwards. Handlers raise ``ApiError`` for
the ``{"message": ...}`` answers CircleCI gives for unknown ids and bad input.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote

import msgspec
from multidict import MultiMapping

from .._entities import isoformat
from .._world import World, WorldError

__all__ = [
    "ApiCall",
    "ApiError",
    "ApiRoute",
    "ApiRouter",
    "Handler",
    "Reply",
    "find",
    "iso",
    "iso_or_none",
]

T = TypeVar("T")


class ApiError(Exception):
    """An error answer: ``status`` with the body ``{"message": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    @classmethod
    def from_world(cls, error: WorldError) -> ApiError:
        return cls(error.status, error.message)


@dataclass(frozen=True, slots=True)
class Reply:
    """A JSON answer; ``body`` is anything msgspec can encode."""

    body: Any
    status: int = 200


Paginate = Callable[[Sequence[Any], str, bool], tuple[Sequence[Any], str | None]]


class ApiCall:
    """One API request as a handler sees it."""

    __slots__ = ("_paginate", "body", "now", "params", "query", "world")

    def __init__(
        self,
        *,
        world: World,
        params: dict[str, str],
        query: MultiMapping[str],
        body: bytes,
        now: float,
        paginate: Paginate,
    ) -> None:
        self.world = world
        self.params = params
        self.query = query
        self.body = body
        self.now = now
        self._paginate = paginate

    def page(
        self,
        items: Sequence[T],
        scope: str,
        *,
        from_end: bool = False,
        render: Callable[[T], Any] | None = None,
    ) -> dict[str, Any]:
        """``{"items": [...], "next_page_token": ...}`` for the page ``page-token`` names.

        ``render`` turns the items of that one page into JSON-able values, so a
        long list costs only its page.
        """
        found, token = self._paginate(items, scope, from_end)
        if render is not None:
            found = [render(item) for item in found]
        return {"items": found, "next_page_token": token}

    def uuid_param(self, name: str, what: str) -> str:
        """A path parameter that must be a UUID; 400 ``<what> is invalid.`` otherwise."""
        value = self.params[name]
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise ApiError(400, f"{what} is invalid.") from None

    def int_param(self, name: str, not_found: str) -> int:
        value = self.params[name]
        if not value.isdigit():
            raise ApiError(404, not_found)
        return int(value)

    def json(self, schema: type[T]) -> T:
        """Decode the body as ``schema``; 400 with msgspec's reason when it does not fit."""
        if not self.body.strip():
            raise ApiError(400, "A request body is required.")
        try:
            return msgspec.json.decode(self.body, type=schema)
        except msgspec.ValidationError as exc:
            raise ApiError(400, f"Invalid request body: {exc}") from None
        except msgspec.DecodeError:
            raise ApiError(400, "Request body is not valid JSON.") from None

    def optional_json(self, schema: type[T]) -> T | None:
        """Like ``json``, but an empty body (or ``null``) is ``None``."""
        if not self.body.strip() or self.body.strip() == b"null":
            return None
        return self.json(schema)

    def filters(self) -> str:
        """The query without ``page-token``, canonically ordered: part of a page scope."""
        return "&".join(
            f"{key}={value}" for key, value in sorted(self.query.items()) if key != "page-token"
        )

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"


Handler = Callable[[ApiCall], Reply]


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """One operation: ``method``, the spec's path template, its operationId, the handler."""

    method: str
    path: str
    operation_id: str
    handler: Handler


# Slugs are several path segments; CircleCI accepts them with the "/" escaped
# too, which the router undoes before matching.
_SEGMENTS = {
    "project-slug": r"[^/]+/[^/]+/[^/]+",
    "org-slug": r"[^/]+/[^/]+",
    # An org id is one segment, an org slug (gh/acme-corp) two.
    "org-slug-or-id": r"[^/]+(?:/[^/]+)?",
}
_PARAM = re.compile(r"\{([^}]+)\}")


class ApiRouter:
    """Matches raw request paths (below the base path) to routes."""

    __slots__ = ("_compiled", "routes")

    def __init__(self, routes: Sequence[ApiRoute]) -> None:
        self.routes = tuple(routes)
        compiled: list[tuple[int, int, re.Pattern[str], list[str], ApiRoute]] = []
        for order, route in enumerate(self.routes):
            names: list[str] = []
            pattern = "^"
            literals = 0
            for segment in route.path.strip("/").split("/"):
                pattern += "/"
                match = _PARAM.fullmatch(segment)
                if match:
                    names.append(match[1])
                    pattern += f"({_SEGMENTS.get(match[1], '[^/]+')})"
                else:
                    literals += 1
                    pattern += re.escape(segment)
            compiled.append((-literals, order, re.compile(pattern + "$"), names, route))
        # Literal segments win over parameters: /pipeline/mine before /pipeline/{number}.
        compiled.sort(key=lambda item: (item[0], item[1]))
        self._compiled = [(regex, names, route) for _, _, regex, names, route in compiled]

    def match(self, method: str, raw_path: str) -> tuple[ApiRoute, dict[str, str]] | bool:
        """The route and its decoded parameters; else whether only the method was wrong."""
        path = raw_path.replace("%2F", "/").replace("%2f", "/")
        path_matched = False
        for regex, names, route in self._compiled:
            found = regex.match(path)
            if found is None:
                continue
            if route.method != method:
                path_matched = True
                continue
            params = {
                name: unquote(value) for name, value in zip(names, found.groups(), strict=True)
            }
            return route, params
        return path_matched


def iso(timestamp: float) -> str:
    return isoformat(timestamp)


def iso_or_none(timestamp: float | None) -> str | None:
    return None if timestamp is None else isoformat(timestamp)


def find(lookup: Callable[[], T], message: str) -> T:
    """``lookup()``, or a 404 ``{"message": message}`` when the world has no such thing."""
    try:
        return lookup()
    except KeyError:
        raise ApiError(404, message) from None
