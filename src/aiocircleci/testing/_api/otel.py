"""OpenTelemetry (OTLP) exporters of an organization: at most five each."""

from __future__ import annotations

import random
import uuid
from typing import Any, Literal

import msgspec

from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply
from .organizations import Organizations, organization, random_uuid

__all__ = ["MAX_EXPORTERS", "ROUTES", "Exporters"]

MAX_EXPORTERS = 5


class Exporter(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str
    endpoint: str
    protocol: str
    insecure: bool
    headers: dict[str, str]


class Exporters:
    """Every exporter by id, in the order they were made."""

    def __init__(self, world: World) -> None:
        self.rng = random.Random(f"world:{world.seed}:otel")
        self.items: dict[str, Exporter] = {}
        if world.organizations:
            org = world.organizations[0]
            self.add(
                org.id,
                endpoint=f"otel-collector.{org.name}.example.com:4317",
                protocol="grpc",
                insecure=False,
                headers={"x-team": org.name},
            )

    def of(self, org_id: str) -> list[Exporter]:
        return [e for e in self.items.values() if e.org_id == org_id]

    def add(
        self, org_id: str, *, endpoint: str, protocol: str, insecure: bool, headers: dict[str, str]
    ) -> Exporter:
        exporter = Exporter(
            id=random_uuid(self.rng),
            org_id=org_id,
            endpoint=endpoint,
            protocol=protocol,
            insecure=insecure,
            headers=headers,
        )
        self.items[exporter.id] = exporter
        return exporter


def _render(exporter: Exporter) -> dict[str, Any]:
    return {
        "id": exporter.id,
        "org_id": exporter.org_id,
        "endpoint": exporter.endpoint,
        "protocol": exporter.protocol,
        "insecure": exporter.insecure,
        "headers": exporter.headers,
        "issues": [],
    }


def _org_id(value: str | None) -> str:
    if not value:
        raise ApiError(400, "org-id is required.")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(400, "org-id is invalid.") from None


def list_exporters(call: ApiCall) -> Reply:
    """GET /otel/exporters"""
    org = organization(call, _org_id(call.query.get("org-id")))
    return Reply([_render(e) for e in call.world.state(Exporters).of(org.id)])


class _NewExporter(msgspec.Struct, forbid_unknown_fields=True):
    org_id: str
    endpoint: str
    protocol: Literal["grpc", "http"]
    insecure: bool = False
    headers: dict[str, str] = {}


def create_exporter(call: ApiCall) -> Reply:
    """POST /otel/exporters"""
    body = call.json(_NewExporter)
    org = organization(call, _org_id(body.org_id))
    endpoint = body.endpoint.strip()
    if not endpoint or any(c.isspace() for c in endpoint):
        raise ApiError(400, "endpoint must be a host:port or a URL.")
    exporters = call.world.state(Exporters)
    if len(exporters.of(org.id)) >= MAX_EXPORTERS:
        raise ApiError(400, f"An organization may have at most {MAX_EXPORTERS} exporters.")
    exporter = exporters.add(
        org.id,
        endpoint=endpoint,
        protocol=body.protocol,
        insecure=body.insecure,
        headers=dict(body.headers),
    )
    return Reply(_render(exporter), 201)


def delete_exporter(call: ApiCall) -> Reply:
    """DELETE /otel/exporters/{otel_exporter_id}"""
    exporter_id = call.uuid_param("otel_exporter_id", "otel_exporter_id")
    exporters = call.world.state(Exporters)
    found = exporters.items.get(exporter_id)
    if found is None or found.org_id not in call.world.state(Organizations).orgs:
        raise ApiError(404, "Exporter not found.")
    del exporters.items[found.id]
    return Reply(None, 204)


ROUTES = (
    ApiRoute("GET", "/otel/exporters", "listOtelExporters", list_exporters),
    ApiRoute("POST", "/otel/exporters", "createOtelExporter", create_exporter),
    ApiRoute("DELETE", "/otel/exporters/{otel_exporter_id}", "deleteOtelExporter", delete_exporter),
)
