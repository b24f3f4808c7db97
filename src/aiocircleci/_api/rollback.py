"""The Rollback operations of API v2."""

from __future__ import annotations

from collections.abc import Mapping

from ..models import Rollback
from ._base import APIBase, seg

__all__ = ["RollbackAPI"]


class RollbackAPI(APIBase):
    """Rollback: putting an earlier version of a component back into an environment."""

    async def rollback_project(
        self,
        project_id: str,
        *,
        environment_name: str,
        component_name: str,
        current_version: str,
        target_version: str,
        namespace: str | None = None,
        reason: str | None = None,
        parameters: Mapping[str, object] | None = None,
    ) -> Rollback:
        """POST /projects/{project_id}/rollback

        Roll a component back from ``current_version`` (the live one) to ``target_version``.
        Never retried on a 5xx or a dropped connection: it is not idempotent.
        """
        body: dict[str, object] = {
            "environment_name": environment_name,
            "component_name": component_name,
            "current_version": current_version,
            "target_version": target_version,
        }
        if namespace is not None:
            body["namespace"] = namespace
        if reason is not None:
            body["reason"] = reason
        if parameters is not None:
            body["parameters"] = dict(parameters)
        return await self._call(
            "POST", f"/projects/{seg(project_id)}/rollback", Rollback, json=body
        )
