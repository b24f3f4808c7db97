"""Models of the OTel operations."""

from __future__ import annotations

from ._base import Model, StatusEnum

__all__ = ["OtelExporter", "OtelProtocol"]


class OtelProtocol(StatusEnum):
    GRPC = "grpc"
    HTTP = "http"
    UNKNOWN = "unknown"


class OtelExporter(Model, frozen=True):
    """An OTLP exporter of an organization (experimental in CircleCI's API).

    ``issues`` lists problems CircleCI found while exporting to ``endpoint``.
    """

    id: str
    org_id: str | None = None
    endpoint: str | None = None
    protocol: OtelProtocol | None = None
    insecure: bool = False
    headers: dict[str, str] = {}
    issues: list[str] = []
