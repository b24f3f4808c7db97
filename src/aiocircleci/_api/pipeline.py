"""The Pipeline operations of API v2."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from .._pagination import Paginator
from .._slug import ProjectSlug
from ..models import (
    Message,
    Pipeline,
    PipelineConfig,
    PipelineCreation,
    PipelineRunResult,
    Workflow,
)
from ._base import APIBase, seg, slug_path

__all__ = ["PipelineAPI"]

ParameterValue = str | int | bool


class _Continue(msgspec.Struct, frozen=True, omit_defaults=True):
    continuation_key: str = msgspec.field(name="continuation-key")
    configuration: str
    parameters: dict[str, ParameterValue] | None = None


class _Ref(msgspec.Struct, frozen=True, omit_defaults=True):
    branch: str | None = None
    tag: str | None = None


class _Run(msgspec.Struct, frozen=True, omit_defaults=True):
    definition_id: str | None = None
    config: _Ref | None = None
    checkout: _Ref | None = None
    parameters: dict[str, ParameterValue] | None = None


def _ref(what: str, branch: str | None, tag: str | None) -> _Ref | None:
    if branch is not None and tag is not None:
        raise ValueError(f"run_pipeline takes a {what} branch or a {what} tag, not both")
    if branch is None and tag is None:
        return None
    return _Ref(branch=branch, tag=tag)


class PipelineAPI(APIBase):
    """Pipeline: listing, fetching, triggering and continuing pipelines."""

    def pipelines(
        self, slug: str | ProjectSlug, *, branch: str | None = None, limit: int | None = None
    ) -> Paginator[Pipeline]:
        """GET /project/{project-slug}/pipeline

        A project's pipelines, newest first; ``branch`` filters (sent with every page).
        """
        return self._paginate(
            f"/project/{slug_path(slug)}/pipeline", Pipeline, params={"branch": branch}, limit=limit
        )

    def org_pipelines(
        self, org_slug: str, *, mine: bool = False, limit: int | None = None
    ) -> Paginator[Pipeline]:
        """GET /pipeline

        The pipelines of every project of an organization (``org_slug`` like ``gh/my-org``).
        """
        org = org_slug.strip().strip("/")
        if org.count("/") != 1 or not all(org.split("/")):
            raise ValueError(f"invalid org slug {org_slug!r}: expected VCS/ORG, such as gh/my-org")
        params = {"org-slug": org, "mine": True if mine else None}
        return self._paginate("/pipeline", Pipeline, params=params, limit=limit)

    async def get_pipeline(self, pipeline_id: str) -> Pipeline:
        """GET /pipeline/{pipeline-id}

        A pipeline by id.
        """
        return await self._call("GET", f"/pipeline/{seg(pipeline_id)}", Pipeline)

    async def get_pipeline_by_number(self, slug: str | ProjectSlug, number: int) -> Pipeline:
        """GET /project/{project-slug}/pipeline/{pipeline-number}

        A pipeline by its number within a project.
        """
        return await self._call(
            "GET", f"/project/{slug_path(slug)}/pipeline/{seg(int(number))}", Pipeline
        )

    async def get_pipeline_config(self, pipeline_id: str) -> PipelineConfig:
        """GET /pipeline/{pipeline-id}/config

        The source and compiled configuration of a pipeline.
        """
        return await self._call("GET", f"/pipeline/{seg(pipeline_id)}/config", PipelineConfig)

    async def trigger_pipeline(
        self,
        slug: str | ProjectSlug,
        *,
        branch: str | None = None,
        tag: str | None = None,
        parameters: Mapping[str, str | int | bool] | None = None,
    ) -> PipelineCreation:
        """POST /project/{project-slug}/pipeline

        Trigger a pipeline on a branch or a tag (not both). Never retried on a 5xx
        or a dropped connection: it is not idempotent.
        """
        if branch is not None and tag is not None:
            raise ValueError("trigger_pipeline takes a branch or a tag, not both")
        body: dict[str, object] = {}
        if branch is not None:
            body["branch"] = branch
        if tag is not None:
            body["tag"] = tag
        if parameters:
            body["parameters"] = dict(parameters)
        return await self._call(
            "POST", f"/project/{slug_path(slug)}/pipeline", PipelineCreation, json=body
        )

    def my_pipelines(
        self, slug: str | ProjectSlug, *, limit: int | None = None
    ) -> Paginator[Pipeline]:
        """GET /project/{project-slug}/pipeline/mine

        The project's pipelines that the token's user triggered, newest first.
        """
        return self._paginate(f"/project/{slug_path(slug)}/pipeline/mine", Pipeline, limit=limit)

    async def get_pipeline_values(self, pipeline_id: str) -> dict[str, str | int | bool]:
        """GET /pipeline/{pipeline-id}/values

        The pipeline values (``pipeline.git.branch``, ``pipeline.number``...) of a pipeline.
        """
        values: dict[str, str | int | bool] = await self._call(
            "GET", f"/pipeline/{seg(pipeline_id)}/values", dict[str, str | int | bool]
        )
        return values

    async def continue_pipeline(
        self,
        continuation_key: str,
        configuration: str,
        *,
        parameters: Mapping[str, ParameterValue] | None = None,
    ) -> Message:
        """POST /pipeline/continue

        Continue a setup pipeline with its configuration; a continuation key works once.
        """
        body = _Continue(
            continuation_key=continuation_key,
            configuration=configuration,
            parameters=dict(parameters) if parameters else None,
        )
        return await self._call("POST", "/pipeline/continue", Message, json=body)

    async def run_pipeline(
        self,
        slug: str | ProjectSlug,
        *,
        definition_id: str | None = None,
        config_branch: str | None = None,
        config_tag: str | None = None,
        checkout_branch: str | None = None,
        checkout_tag: str | None = None,
        parameters: Mapping[str, ParameterValue] | None = None,
    ) -> PipelineRunResult:
        """POST /project/{provider}/{organization}/{project}/pipeline/run

        Trigger a pipeline of a pipeline definition: the config from one ref, the code
        checked out from another (each a branch or a tag). Like ``trigger_pipeline``, it
        is not retried on a 5xx or a dropped connection.
        """
        body = _Run(
            definition_id=definition_id,
            config=_ref("config", config_branch, config_tag),
            checkout=_ref("checkout", checkout_branch, checkout_tag),
            parameters=dict(parameters) if parameters else None,
        )
        return await self._call(
            "POST", f"/project/{slug_path(slug)}/pipeline/run", PipelineRunResult, json=body
        )

    def pipeline_workflows(
        self, pipeline_id: str, *, limit: int | None = None
    ) -> Paginator[Workflow]:
        """GET /pipeline/{pipeline-id}/workflow

        The workflows of a pipeline.
        """
        return self._paginate(f"/pipeline/{seg(pipeline_id)}/workflow", Workflow, limit=limit)
