"""The Pipeline Definition operations of API v2."""

from __future__ import annotations

from typing import Literal

from .._pagination import Paginator
from ..models import Message, PipelineDefinition
from ._base import APIBase, seg

__all__ = ["PipelineDefinitionAPI"]

ConfigProvider = Literal["github_app", "github_server", "circleci"]
CheckoutProvider = Literal["github_app", "github_server"]


class PipelineDefinitionAPI(APIBase):
    """Pipeline Definition: the pipelines a project can run, by id of the project."""

    def pipeline_definitions(
        self, project_id: str, *, limit: int | None = None
    ) -> Paginator[PipelineDefinition]:
        """GET /projects/{project_id}/pipeline-definitions

        The pipeline definitions of a project (``project_id`` is the project's id, not its slug).
        """
        return self._paginate(
            f"/projects/{seg(project_id)}/pipeline-definitions", PipelineDefinition, limit=limit
        )

    async def create_pipeline_definition(
        self,
        project_id: str,
        *,
        name: str,
        config_provider: ConfigProvider,
        config_file_path: str,
        checkout_provider: CheckoutProvider,
        checkout_repo_id: str,
        config_repo_id: str | None = None,
        description: str | None = None,
    ) -> PipelineDefinition:
        """POST /projects/{project_id}/pipeline-definitions

        Create a pipeline definition. ``config_repo_id`` (the repository's
        ``external_id``) is required unless ``config_provider`` is ``circleci``.
        """
        if (config_provider == "circleci") != (config_repo_id is None):
            raise ValueError(
                "config_repo_id is required for github_app and github_server, "
                "and not allowed for circleci"
            )
        config: dict[str, object] = {"provider": config_provider, "file_path": config_file_path}
        if config_repo_id is not None:
            config["repo"] = {"external_id": config_repo_id}
        body: dict[str, object] = {
            "name": name,
            "config_source": config,
            "checkout_source": {
                "provider": checkout_provider,
                "repo": {"external_id": checkout_repo_id},
            },
        }
        if description is not None:
            body["description"] = description
        return await self._call(
            "POST",
            f"/projects/{seg(project_id)}/pipeline-definitions",
            PipelineDefinition,
            json=body,
        )

    async def get_pipeline_definition(
        self, project_id: str, pipeline_definition_id: str
    ) -> PipelineDefinition:
        """GET /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}

        A pipeline definition by id.
        """
        return await self._call(
            "GET",
            f"/projects/{seg(project_id)}/pipeline-definitions/{seg(pipeline_definition_id)}",
            PipelineDefinition,
        )

    async def update_pipeline_definition(
        self,
        project_id: str,
        pipeline_definition_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        config_file_path: str | None = None,
        checkout_provider: CheckoutProvider | None = None,
        checkout_repo_id: str | None = None,
    ) -> PipelineDefinition:
        """PATCH /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}

        Change a pipeline definition; only the arguments given are sent.
        """
        body: dict[str, object] = {}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if config_file_path is not None:
            body["config_source"] = {"file_path": config_file_path}
        checkout: dict[str, object] = {}
        if checkout_provider is not None:
            checkout["provider"] = checkout_provider
        if checkout_repo_id is not None:
            checkout["repo"] = {"external_id": checkout_repo_id}
        if checkout:
            body["checkout_source"] = checkout
        return await self._call(
            "PATCH",
            f"/projects/{seg(project_id)}/pipeline-definitions/{seg(pipeline_definition_id)}",
            PipelineDefinition,
            json=body,
        )

    async def delete_pipeline_definition(
        self, project_id: str, pipeline_definition_id: str
    ) -> Message:
        """DELETE /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}

        Delete a pipeline definition, and with it its triggers.
        """
        return await self._call(
            "DELETE",
            f"/projects/{seg(project_id)}/pipeline-definitions/{seg(pipeline_definition_id)}",
            Message,
        )
