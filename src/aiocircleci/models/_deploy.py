"""Models of the Deploy operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model

__all__ = ["Component", "ComponentVersion", "DeployLabel", "Environment"]


class DeployLabel(Model, frozen=True):
    """A ``key``/``value`` label of an environment or a component."""

    key: str | None = None
    value: str | None = None


class Environment(Model, frozen=True):
    """A deploy environment of an organization (production, staging...)."""

    id: str
    name: str | None = None
    description: str | None = None
    labels: list[DeployLabel] = []
    created_at: datetime | None = None
    updated_at: datetime | None = None


class Component(Model, frozen=True):
    """A deployable component of a project."""

    id: str
    name: str | None = None
    project_id: str | None = None
    labels: list[DeployLabel] = []
    release_count: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class ComponentVersion(Model, frozen=True):
    """A version of a component deployed to an environment; ``is_live`` marks the current one."""

    name: str
    environment_id: str | None = None
    namespace: str | None = None
    is_live: bool | None = None
    pipeline_id: str | None = None
    workflow_id: str | None = None
    job_id: str | None = None
    job_number: int | None = None
    last_deployed_at: datetime | None = None
