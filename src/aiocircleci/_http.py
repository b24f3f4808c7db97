"""Our own request and response values, so that nothing above the transport
speaks aiohttp. Pure data and small helpers about URLs and origins."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "IDEMPOTENT_METHODS",
    "Headers",
    "Request",
    "Response",
    "origin_of",
    "redact_url",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class Headers(Mapping[str, str]):
    """A read-only, case-insensitive header mapping (first value wins)."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            self._items.setdefault(name.lower(), (name, value))

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def get(self, name: str, default: Any = None) -> Any:  # hot path: no KeyError round trip
        item = self._items.get(name.lower())
        return default if item is None else item[1]

    def lower_names(self) -> Iterator[str]:
        return iter(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return (original for original, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request. ``url`` is absolute and already percent-encoded."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None

    @property
    def idempotent(self) -> bool:
        return self.method.upper() in IDEMPOTENT_METHODS

    def __repr__(self) -> str:
        # Headers are left out on purpose: they carry the token.
        return f"<Request {self.method} {redact_url(self.url)}>"


@dataclass(frozen=True, slots=True)
class Response:
    """A buffered HTTP response."""

    status: int
    headers: Headers
    body: bytes
    url: str
    reason: str = ""

    def __repr__(self) -> str:
        return f"<Response {self.status} {redact_url(self.url)}>"


def origin_of(url: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of a URL, with the default port filled in."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or {"http": 80, "https": 443}.get(scheme, 0)
    return scheme, (parts.hostname or "").lower(), port


def redact_url(url: str) -> str:
    """The URL without user info and query, which may hold credentials or signatures."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a port out of range, a broken IPv6 host: still never raise
        return url.partition("?")[0].partition("#")[0].rsplit("@", 1)[-1]
    netloc = parts.hostname or ""
    if port:
        netloc = f"{netloc}:{port}"
    query = "…" if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
