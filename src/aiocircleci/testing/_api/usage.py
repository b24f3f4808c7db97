"""Usage export jobs of an organization.

A job moves on by one step each time it is fetched, so a poller sees every state
deterministically: ``created`` when made, ``processing`` on the first fetch,
then ``completed`` with download URLs on the emulator's artifact origin (which
does not serve them). A job asked to include a shared organization the store
does not know ends ``failed`` with an ``error_reason`` instead.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply, iso
from .organizations import Organizations, organization, random_uuid

__all__ = ["ROUTES", "UsageExports"]

_STEPS = ("created", "processing")
_MAX_RANGE = timedelta(days=31)
_MAX_AGE = timedelta(days=365)


class Export(msgspec.Struct, kw_only=True):
    id: str
    org_id: str
    start: float
    end: float
    shared_org_ids: tuple[str, ...]
    fetches: int = 0


class UsageExports:
    """Every usage export job by id."""

    def __init__(self, world: World) -> None:
        self.rng = random.Random(f"world:{world.seed}:usage")
        self.items: dict[str, Export] = {}
        end = world.config.start_time - 86400.0
        for org in world.organizations:
            export = self.add(org.id, end - 30 * 86400.0, end, ())
            export.fetches = len(_STEPS)  # long finished

    def add(self, org_id: str, start: float, end: float, shared: tuple[str, ...]) -> Export:
        export = Export(
            id=random_uuid(self.rng), org_id=org_id, start=start, end=end, shared_org_ids=shared
        )
        self.items[export.id] = export
        return export


def _state(call: ApiCall, export: Export) -> dict[str, Any]:
    """``state``, ``download_urls`` and maybe ``error_reason`` as of now."""
    if export.fetches < len(_STEPS):
        return {"state": _STEPS[export.fetches], "download_urls": []}
    orgs = call.world.state(Organizations).orgs
    unknown = [oid for oid in export.shared_org_ids if oid not in orgs]
    if unknown:
        return {
            "state": "failed",
            "download_urls": [],
            "error_reason": f"No access to organization {unknown[0]}.",
        }
    base = f"{call.world.artifact_origin}/usage-exports/{export.org_id}/{export.id}"
    return {"state": "completed", "download_urls": [f"{base}/usage-000.csv.gz"]}


class _NewExport(msgspec.Struct, forbid_unknown_fields=True):
    start: datetime
    end: datetime
    shared_org_ids: tuple[str, ...] = ()


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise ApiError(400, f"{name} must carry a timezone offset.")
    return moment


def create_export(call: ApiCall) -> Reply:
    """POST /organizations/{org_id}/usage_export_job"""
    org = organization(call, call.params["org_id"])
    body = call.json(_NewExport)
    start, end = _aware(body.start, "start"), _aware(body.end, "end")
    if end < start:
        raise ApiError(400, "end must not be before start.")
    if end - start > _MAX_RANGE:
        raise ApiError(400, "end must be no more than 31 days after start.")
    if start < datetime.fromtimestamp(call.now, UTC) - _MAX_AGE:
        raise ApiError(400, "start must be no more than one year ago.")
    shared: list[str] = []
    for oid in body.shared_org_ids:
        try:
            shared.append(str(uuid.UUID(oid)))
        except ValueError:
            raise ApiError(400, f"shared_org_ids: {oid!r} is not a UUID.") from None
    export = call.world.state(UsageExports).add(
        org.id, start.timestamp(), end.timestamp(), tuple(shared)
    )
    body_out = {
        "usage_export_job_id": export.id,
        "start": iso(export.start),
        "end": iso(export.end),
        **_state(call, export),
    }
    return Reply(body_out, 201)


def get_export(call: ApiCall) -> Reply:
    """GET /organizations/{org_id}/usage_export_job/{usage_export_job_id}"""
    org = organization(call, call.params["org_id"])
    export_id = call.uuid_param("usage_export_job_id", "usage_export_job_id")
    export = call.world.state(UsageExports).items.get(export_id)
    if export is None or export.org_id != org.id:
        raise ApiError(404, "Usage export job not found.")
    if export.fetches < len(_STEPS):
        export.fetches += 1
    return Reply({"usage_export_job_id": export.id, **_state(call, export)})


ROUTES = (
    ApiRoute(
        "POST", "/organizations/{org_id}/usage_export_job", "createUsageExport", create_export
    ),
    ApiRoute(
        "GET",
        "/organizations/{org_id}/usage_export_job/{usage_export_job_id}",
        "getUsageExport",
        get_export,
    ),
)
