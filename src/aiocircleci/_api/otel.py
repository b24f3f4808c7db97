"""The OTel operations of API v2."""

from __future__ import annotations

from collections.abc import Mapping

from ..models import Model, OtelExporter, OtelProtocol
from ._base import APIBase, seg

__all__ = ["OTelAPI"]


class _NewExporter(Model, frozen=True):
    org_id: str
    endpoint: str
    protocol: str
    insecure: bool | None = None
    headers: dict[str, str] | None = None


class OTelAPI(APIBase):
    """OTel: OTLP exporters that send an organization's CI telemetry elsewhere (experimental)."""

    async def otel_exporters(self, org_id: str) -> list[OtelExporter]:
        """GET /otel/exporters

        The OTLP exporters of an organization (one answer, not paged).
        """
        return await self._call(
            "GET", "/otel/exporters", list[OtelExporter], params={"org-id": org_id}
        )

    async def create_otel_exporter(
        self,
        org_id: str,
        *,
        endpoint: str,
        protocol: OtelProtocol | str,
        insecure: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> OtelExporter:
        """POST /otel/exporters

        Export an organization's telemetry to ``endpoint``; at most five per organization.
        """
        body = _NewExporter(
            org_id=org_id,
            endpoint=endpoint,
            protocol=str(protocol),
            insecure=insecure,
            headers=None if headers is None else dict(headers),
        )
        return await self._call("POST", "/otel/exporters", OtelExporter, json=body)

    async def delete_otel_exporter(self, exporter_id: str) -> None:
        """DELETE /otel/exporters/{otel_exporter_id}

        Delete an OTLP exporter.
        """
        await self._call_no_content("DELETE", f"/otel/exporters/{seg(exporter_id)}")
