"""The emulated API v2, one module per resource family.

To add a family, write a module with a ``ROUTES`` tuple of ``ApiRoute`` values
(handlers are ``(ApiCall) -> Reply``) and add it to ``RESOURCES``. The server
registers every route listed here, and the spec-conformance test insists that
each of them has a conformance case.
"""

from __future__ import annotations

from types import ModuleType

from . import (
    contexts,
    deploy,
    groups,
    insights,
    jobs,
    oidc,
    organizations,
    otel,
    pipeline_definitions,
    pipelines,
    policy,
    projects,
    rollback,
    schedules,
    triggers,
    usage,
    users,
    webhooks,
    workflows,
)
from ._core import ApiCall, ApiError, ApiRoute, ApiRouter, Reply

__all__ = ["RESOURCES", "ApiCall", "ApiError", "ApiRoute", "ApiRouter", "Reply", "all_routes"]

RESOURCES: tuple[ModuleType, ...] = (
    users,
    projects,
    pipelines,
    workflows,
    jobs,
    insights,
    contexts,
    schedules,
    webhooks,
    organizations,
    groups,
    usage,
    otel,
    pipeline_definitions,
    triggers,
    rollback,
    deploy,
    oidc,
    policy,
)


def all_routes() -> tuple[ApiRoute, ...]:
    """Every route of every resource module, in registration order."""
    routes: list[ApiRoute] = []
    for module in RESOURCES:
        routes.extend(module.ROUTES)
    return tuple(routes)
