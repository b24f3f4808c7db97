"""OIDC custom claims of organizations and projects.

Claims are ``audience`` (a list of strings) and ``ttl`` (a duration such as
``1h``), each with the time it was last set. The first organization starts
with both set; everything else starts with none. Errors are ``{"error": ...}``
as the spec says: 400 for ids that are not UUIDs and bad bodies, 403 for an
organization the token cannot see or a project outside that organization (the
spec declares no 404 here).
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply, iso
from .policy import error_field

__all__ = ["ROUTES", "ClaimStore", "claim_store"]

_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w)){1,7}$")
_CLAIMS = ("audience", "ttl")


@dataclass(slots=True)
class Claims:
    audience: list[str] | None = None
    audience_updated_at: float | None = None
    ttl: str | None = None
    ttl_updated_at: float | None = None


@dataclass(slots=True)
class ClaimStore:
    orgs: dict[str, Claims] = field(default_factory=dict)
    projects: dict[tuple[str, str], Claims] = field(default_factory=dict)


def _seed(world: World) -> ClaimStore:
    rng = random.Random(f"world:{world.seed}:oidc")
    state = ClaimStore()
    org = world.organizations[0]
    when = world.config.start_time - rng.uniform(10, 90) * 86400
    state.orgs[org.id] = Claims(
        audience=[f"https://{org.name}.example.com", "sts.amazonaws.com"],
        audience_updated_at=when,
        ttl="1h",
        ttl_updated_at=when,
    )
    return state


def claim_store(world: World) -> ClaimStore:
    """The OIDC claim store of this world."""
    return world.state(_seed)


def _uuid(call: ApiCall, name: str, label: str) -> str:
    try:
        return str(uuid.UUID(call.params[name]))
    except ValueError:
        raise ApiError(400, f"{label}: must be a valid UUID.") from None


def _target(call: ApiCall) -> tuple[str, str | None, Claims]:
    """(org id, project id or None, the claims) the path names; creates empty claims."""
    org_id = _uuid(call, "orgID", "OrgID")
    if not any(o.id == org_id for o in call.world.organizations):
        raise ApiError(403, "Forbidden")
    state = claim_store(call.world)
    if "projectID" not in call.params:
        return org_id, None, state.orgs.setdefault(org_id, Claims())
    project_id = _uuid(call, "projectID", "ProjectID")
    if not any(p.id == project_id and p.organization.id == org_id for p in call.world.projects):
        raise ApiError(403, "Forbidden")
    return org_id, project_id, state.projects.setdefault((org_id, project_id), Claims())


def _render(org_id: str, project_id: str | None, claims: Claims) -> dict[str, Any]:
    body: dict[str, Any] = {"org_id": org_id}
    if project_id is not None:
        body["project_id"] = project_id
    if claims.audience is not None and claims.audience_updated_at is not None:
        body["audience"] = claims.audience
        body["audience_updated_at"] = iso(claims.audience_updated_at)
    if claims.ttl is not None and claims.ttl_updated_at is not None:
        body["ttl"] = claims.ttl
        body["ttl_updated_at"] = iso(claims.ttl_updated_at)
    return body


class _Patch(msgspec.Struct, forbid_unknown_fields=True):
    audience: list[str] | None = None
    ttl: str | None = None


@error_field
def get_claims(call: ApiCall) -> Reply:
    """GET /org/{orgID}/oidc-custom-claims and the project's"""
    return Reply(_render(*_target(call)))


@error_field
def patch_claims(call: ApiCall) -> Reply:
    """PATCH /org/{orgID}/oidc-custom-claims and the project's"""
    org_id, project_id, claims = _target(call)
    body = call.json(_Patch)
    if body.audience is None and body.ttl is None:
        raise ApiError(400, "Nothing to patch: give audience, ttl or both.")
    if body.audience is not None and (not body.audience or not all(body.audience)):
        raise ApiError(400, "audience: must be a non-empty list of non-empty strings.")
    if body.ttl is not None and not _DURATION.match(body.ttl):
        raise ApiError(400, "ttl: must be a duration such as 1h or 30m.")
    if body.audience is not None:
        claims.audience = list(body.audience)
        claims.audience_updated_at = call.now
    if body.ttl is not None:
        claims.ttl = body.ttl
        claims.ttl_updated_at = call.now
    return Reply(_render(org_id, project_id, claims))


@error_field
def delete_claims(call: ApiCall) -> Reply:
    """DELETE /org/{orgID}/oidc-custom-claims and the project's"""
    org_id, project_id, claims = _target(call)
    names = [n.strip() for n in call.query.get("claims", "").split(",") if n.strip()]
    if not names or any(n not in _CLAIMS for n in names):
        raise ApiError(400, 'claims: must be a comma-separated list of "audience" and "ttl".')
    if "audience" in names:
        claims.audience = claims.audience_updated_at = None
    if "ttl" in names:
        claims.ttl = claims.ttl_updated_at = None
    return Reply(_render(org_id, project_id, claims))


_ORG = "/org/{orgID}/oidc-custom-claims"
_PROJECT = "/org/{orgID}/project/{projectID}/oidc-custom-claims"

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", _ORG, "GetOrgClaims", get_claims),
    ApiRoute("PATCH", _ORG, "PatchOrgClaims", patch_claims),
    ApiRoute("DELETE", _ORG, "DeleteOrgClaims", delete_claims),
    ApiRoute("GET", _PROJECT, "GetProjectClaims", get_claims),
    ApiRoute("PATCH", _PROJECT, "PatchProjectClaims", patch_claims),
    ApiRoute("DELETE", _PROJECT, "DeleteProjectClaims", delete_claims),
)
