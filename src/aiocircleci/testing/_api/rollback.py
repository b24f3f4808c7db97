"""Rollbacks of a project: make an earlier version of a component live again.

A rollback names the component (of the project), the environment (of the
project's organization), the version live now and the version to go back to.
If ``current_version`` is no longer the live one, the answer is 409, as a
concurrent deploy or rollback would cause on the real service. The target must
have been deployed to that environment before. Instead of running a rollback
pipeline, the emulator makes the target live at once, so the component's
version list shows the rollback straight away.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._core import ApiCall, ApiError, ApiRoute, Reply
from .deploy import deploy_store
from .pipeline_definitions import project_by_id

__all__ = ["ROUTES"]


class _Rollback(msgspec.Struct, forbid_unknown_fields=True):
    environment_name: str
    component_name: str
    current_version: str
    target_version: str
    namespace: str | None = None
    parameters: dict[str, Any] | None = None
    reason: str | None = None


def rollback_project(call: ApiCall) -> Reply:
    """POST /projects/{project_id}/rollback"""
    project = project_by_id(call)
    body = call.json(_Rollback)
    if body.current_version == body.target_version:
        raise ApiError(400, "target_version must differ from current_version.")
    state = deploy_store(call.world)
    component = next(
        (
            c
            for c in state.components.values()
            if c.project_id == project.id and c.name == body.component_name
        ),
        None,
    )
    if component is None:
        raise ApiError(404, f"Component {body.component_name!r} not found.")
    env = next(
        (
            e
            for e in state.environments.values()
            if e.org_id == project.organization.id and e.name == body.environment_name
        ),
        None,
    )
    if env is None:
        raise ApiError(404, f"Environment {body.environment_name!r} not found.")
    live = state.live(component.id, env.id)
    if live is None or live.name != body.current_version:
        now_live = "nothing" if live is None else live.name
        raise ApiError(
            409, f"current_version {body.current_version!r} is not live ({now_live} is)."
        )
    target = next(
        (
            v
            for v in state.versions[component.id]
            if v.environment_id == env.id and v.name == body.target_version
        ),
        None,
    )
    if target is None:
        raise ApiError(404, f"Version {body.target_version!r} was never deployed to {env.name!r}.")
    live.is_live = False
    target.is_live = True
    target.last_deployed_at = call.now
    if body.namespace is not None:
        target.namespace = body.namespace
    component.updated_at = call.now
    rollback_id = state.new_id()
    state.rollbacks.append(
        {
            "id": rollback_id,
            "project_id": project.id,
            "component_id": component.id,
            "environment_id": env.id,
            "from": body.current_version,
            "to": body.target_version,
            "reason": body.reason,
            "parameters": body.parameters,
        }
    )
    return Reply({"id": rollback_id, "rollback_type": "PIPELINE"}, status=202)


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("POST", "/projects/{project_id}/rollback", "rollbackProject", rollback_project),
)
