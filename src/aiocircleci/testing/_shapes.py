"""What the emulator's bodies look like: the live API's shapes (the default) or the spec's.

The handlers render the spec's shapes. In ``"live"`` mode every 2xx body passes
through ``live_body``, which makes it what CircleCI really sends (the section
"Where the real API departs from its spec" of the project's notes on CircleCI):

- ``GET /me/collaborations`` items spell ``vcs_type``;
- ``GET /insights/{project-slug}/flaky-tests`` is snake_case;
- insights workflow runs lack ``branch`` and ``is_approval`` (every other one),
  and workflow summaries carry ``median_credits_used`` and
  ``duration_metrics.total_duration``, which the spec does not list;
- nulls where the live API sends them: a workflow's ``canceled_by`` and
  ``errored_by``, a job's ``started_at``/``stopped_at``/``duration`` before it
  ends; every fifth pipeline has ``vcs.provider_name: null`` and a trigger type
  outside the spec, every seventh no ``trigger.actor``;
- Bitbucket projects have no ``id`` or ``organization_id`` (older bodies), and
  the workflow fetched by id of every eleventh pipeline has ``pipeline_id: null``;
- the last page of job artifacts and job tests has no ``next_page_token``;
- context variables and schedules of every other item have no ``updated_at``.

Errors change too (see ``FakeCircleCI``): a bad token answers 401 in plain
text, a missing token 401 with JSON labelled ``text/plain``, and a page token the
server did not make ``404 {"message": "Not Found"}``.

``AIOCIRCLECI_FAKE_SHAPES=spec`` in the environment makes ``"spec"`` the
default (the test suite runs once per mode that way); ``FakeCircleCI(shapes=...)``
and ``aiocircleci fake-server --spec-shapes`` choose explicitly.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, Literal

import msgspec

__all__ = ["SHAPES_ENV", "Shapes", "default_shapes", "live_body"]

Shapes = Literal["live", "spec"]
SHAPES_ENV = "AIOCIRCLECI_FAKE_SHAPES"

# The trigger type CircleCI's own pipelines have been seen with, outside the spec.
ODD_TRIGGER_TYPE = "Decoupled Ingestion System"


def default_shapes() -> Shapes:
    """``"live"``, unless ``AIOCIRCLECI_FAKE_SHAPES`` says ``spec``."""
    value = os.environ.get(SHAPES_ENV, "").strip().lower()
    if value in ("", "live"):
        return "live"
    if value == "spec":
        return "spec"
    raise ValueError(f"{SHAPES_ENV} must be 'live' or 'spec', not {value!r}")


def _snake(key: str) -> str:
    return key.replace("-", "_")


def _collaborations(body: Any) -> Any:
    return [
        {("vcs_type" if k == "vcs-type" else k): v for k, v in org.items()}
        for org in body
        if isinstance(org, dict)
    ]


def _flaky_tests(body: Any) -> Any:
    out = {_snake(k): v for k, v in body.items()}
    out["flaky_tests"] = [{_snake(k): v for k, v in t.items()} for t in out.get("flaky_tests", [])]
    return out


def _runs(body: Any) -> Any:
    items = []
    for index, run in enumerate(body.get("items", [])):
        if index % 2 == 1:
            run = {k: v for k, v in run.items() if k not in ("branch", "is_approval")}
        items.append(run)
    return {**body, "items": items}


def _pipeline(pipeline: dict[str, Any]) -> dict[str, Any]:
    number = pipeline.get("number")
    if not isinstance(number, int):
        return pipeline
    pipeline = dict(pipeline)
    trigger = dict(pipeline.get("trigger") or {})
    if number % 5 == 0:
        vcs = pipeline.get("vcs")
        if isinstance(vcs, dict):
            pipeline["vcs"] = {**vcs, "provider_name": None}
        trigger["type"] = ODD_TRIGGER_TYPE
    if number % 7 == 0:
        trigger.pop("actor", None)
    if trigger:
        pipeline["trigger"] = trigger
    return pipeline


def _pipelines(body: Any) -> Any:
    return {**body, "items": [_pipeline(p) for p in body.get("items", [])]}


class _Number(msgspec.Struct):
    number: int | None = None


_NUMBER = msgspec.json.Decoder(_Number)


def _pipeline_page(body: Any) -> Any:
    """``_pipelines`` on a page of pre-rendered items, re-rendering only those it changes.

    Pipeline pages are the emulator's hottest path; most items go out untouched.
    """
    if not isinstance(body, dict):
        return None
    items = [
        _live_pipeline(bytes(item) if isinstance(item, msgspec.Raw) else msgspec.json.encode(item))
        for item in body.get("items", [])
    ]
    return {**body, "items": items}


@functools.lru_cache(maxsize=4096)
def _live_pipeline(rendered: bytes) -> msgspec.Raw:
    number = _NUMBER.decode(rendered).number
    if number is not None and (number % 5 == 0 or number % 7 == 0):
        return msgspec.Raw(msgspec.json.encode(_pipeline(msgspec.json.decode(rendered))))
    return msgspec.Raw(rendered)


def _workflow(workflow: dict[str, Any]) -> dict[str, Any]:
    return {"canceled_by": None, "errored_by": None, **workflow}


def _workflows(body: Any) -> Any:
    return {**body, "items": [_workflow(w) for w in body.get("items", [])]}


def _job(job: dict[str, Any]) -> dict[str, Any]:
    return {"started_at": None, "stopped_at": None, "duration": None, **job}


def _summaries(body: Any) -> Any:
    # Live workflow summaries carry fields the spec does not list.
    items = []
    for item in body.get("items", []):
        metrics = dict(item.get("metrics") or {})
        durations = dict(metrics.get("duration_metrics") or {})
        durations.setdefault("total_duration", durations.get("max"))
        metrics["duration_metrics"] = durations
        metrics.setdefault("median_credits_used", metrics.get("total_credits_used"))
        items.append({**item, "metrics": metrics})
    return {**body, "items": items}


def _project(project: dict[str, Any]) -> dict[str, Any]:
    # Older projects (here: the Bitbucket ones) come without id and organization_id.
    if str(project.get("slug", "")).startswith("bb/"):
        return {k: v for k, v in project.items() if k not in ("id", "organization_id")}
    return project


def _old_workflow(workflow: dict[str, Any]) -> dict[str, Any]:
    # Old bodies carry pipeline_id: null (here: every eleventh pipeline's workflows).
    workflow = _workflow(workflow)
    number = workflow.get("pipeline_number")
    if isinstance(number, int) and number % 11 == 0:
        workflow["pipeline_id"] = None
    return workflow


def _no_final_token(body: Any) -> Any:
    if isinstance(body, dict) and body.get("next_page_token", "") is None:
        return {k: v for k, v in body.items() if k != "next_page_token"}
    return body


def _without(*keys: str) -> Callable[[Any], Any]:
    def strip(body: Any) -> Any:
        items = []
        for index, item in enumerate(body.get("items", [])):
            if index % 2 == 1 and isinstance(item, dict):
                item = {k: v for k, v in item.items() if k not in keys}
            items.append(item)
        return {**body, "items": items}

    return strip


_LIVE: dict[str, Callable[[Any], Any]] = {
    "getCollaborations": _collaborations,
    "getFlakyTests": _flaky_tests,
    "getProjectWorkflowRuns": _runs,
    "getProjectWorkflowMetrics": _summaries,
    "listPipelines": _pipelines,
    "listPipelinesForProject": _pipelines,
    "listMyPipelines": _pipelines,
    "getPipelineById": _pipeline,
    "getPipelineByNumber": _pipeline,
    "listWorkflowsByPipelineId": _workflows,
    "getWorkflowById": _old_workflow,
    "getProjectBySlug": _project,
    "getJobDetails": _job,
    "getJobArtifacts": _no_final_token,
    "getTests": _no_final_token,
    "listEnvironmentVariablesFromContext": _without("updated_at"),
    "listSchedulesForProject": _without("updated-at"),
}


_PIPELINE_PAGES = frozenset({"listPipelines", "listPipelinesForProject", "listMyPipelines"})


def live_body(operation_id: str, body: Any) -> Any:
    """The body CircleCI itself would send for this operation's spec-shaped ``body``."""
    if operation_id in _PIPELINE_PAGES:
        page = _pipeline_page(body)
        if page is not None:
            return page
    shape = _LIVE.get(operation_id)
    if shape is None:
        return body
    # Handlers may answer Structs or pre-rendered Raw JSON; the shapes work on plain JSON.
    plain = msgspec.json.decode(msgspec.json.encode(body))
    if not isinstance(plain, dict | list):
        return plain
    return shape(plain)
