"""Models of the Pipeline Definition operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model

__all__ = ["CheckoutSource", "ConfigSource", "PipelineDefinition", "PipelineDefinitionRepo"]


class PipelineDefinitionRepo(Model, frozen=True):
    """A repository as pipeline definitions and triggers name it."""

    full_name: str | None = None
    external_id: str | None = None


class ConfigSource(Model, frozen=True):
    """Where the config YAML of a pipeline definition lives."""

    provider: str | None = None
    repo: PipelineDefinitionRepo | None = None
    file_path: str | None = None


class CheckoutSource(Model, frozen=True):
    """The repository the ``checkout`` step of a pipeline definition clones."""

    provider: str | None = None
    repo: PipelineDefinitionRepo | None = None


class PipelineDefinition(Model, frozen=True):
    """A pipeline definition of a project: which config runs, and what it checks out."""

    id: str
    name: str | None = None
    description: str | None = None
    created_at: datetime | None = None
    config_source: ConfigSource | None = None
    checkout_source: CheckoutSource | None = None
