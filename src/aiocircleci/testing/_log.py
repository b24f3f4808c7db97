"""The request log: one frozen record per request any of the three hosts answered."""

from __future__ import annotations

import enum

import msgspec

__all__ = ["RequestRecord", "RouteClass"]


class RouteClass(enum.StrEnum):
    """Which of the emulator's three origins a request reached."""

    API = "api"
    ARTIFACT = "artifact"
    STORAGE = "storage"


class RequestRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What arrived, what was answered, and which faults were injected.

    ``status`` is ``None`` when the connection was reset before any header was
    sent. ``faults`` lists the injected faults in fault-spec form (``"503"``,
    ``"latency=200"``, ``"reset-mid-body"``...). ``violation`` is true when the
    request arrived before the Retry-After last announced to its token had passed.
    ``timestamp`` is wall-clock seconds since the epoch at arrival.
    ``connection`` numbers the TCP connection the request came on, from 1, per
    host and in the order each connection sent its first request; requests on
    one keep-alive connection share it.
    """

    route_class: RouteClass
    operation: str | None
    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[str, str], ...]
    status: int | None
    faults: tuple[str, ...]
    timestamp: float
    violation: bool = False
    bytes_sent: int = 0
    connection: int = 0

    def header(self, name: str) -> str | None:
        """The first value of a request header, case-insensitively; ``None`` if absent."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def fault(self) -> str | None:
        """The first injected fault other than added latency, if any."""
        for fault in self.faults:
            if not fault.startswith("latency="):
                return fault
        return None
