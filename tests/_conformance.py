"""What conformance cases are made of, and helpers that find things in a world.

A case is a function of the running emulator that returns the ``Call`` to make
and the status to expect. Each group of resource families keeps its cases in
its own ``tests/_cases_*.py`` module (``SUCCESS``: one case per operation, reads
before changes; ``ERRORS``: error answers to validate too), and
``test_spec_conformance.py`` runs all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from aiocircleci.testing import FakeCircleCI, Job, Workflow

TOKEN = "conformance-token"
NO_SUCH = "00000000-0000-4000-8000-000000000000"


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    json: Any = None
    params: dict[str, str] | None = None
    token: str | None = TOKEN


Case = Callable[[FakeCircleCI], Call]


def slug(fake: FakeCircleCI, index: int = 0) -> str:
    return quote(fake.world.projects[index].slug, safe="/")


def workflows(fake: FakeCircleCI) -> list[Workflow]:
    world = fake.world
    return [
        w
        for project in world.projects
        for pipeline in world.pipelines(project.slug)
        for w in world.workflows(pipeline.id)
    ]


def workflow(fake: FakeCircleCI, *statuses: str) -> Workflow:
    return next(w for w in workflows(fake) if w.status in statuses)


def jobs(fake: FakeCircleCI) -> list[Job]:
    return [j for w in workflows(fake) for j in fake.world.jobs(w.id)]


def job(fake: FakeCircleCI, predicate: Callable[[Job], bool]) -> Job:
    return next(j for j in jobs(fake) if predicate(j))


def job_path(job: Job, form: str = "{slug}/job/{number}") -> str:
    return form.format(slug=quote(job.project_slug, safe="/"), number=job.number)


def artifact_job(fake: FakeCircleCI) -> Job:
    return job(fake, lambda j: bool(fake.world.artifacts(j)) and j.parallelism > 1)


def test_job(fake: FakeCircleCI) -> Job:
    return job(fake, lambda j: j.status == "failed" and bool(fake.world.tests(j)))


def pipeline_id(fake: FakeCircleCI, state: str = "created") -> str:
    project = fake.world.projects[0]
    return next(p.id for p in fake.world.pipelines(project.slug) if p.state == state)


def on_hold(fake: FakeCircleCI) -> tuple[Workflow, Job]:
    held = workflow(fake, "on_hold")
    job = next(j for j in fake.world.jobs(held.id) if j.status == "on_hold")
    return held, job


def org(fake: FakeCircleCI) -> str:
    return fake.world.organizations[0].id


def context_id(fake: FakeCircleCI) -> str:
    return fake.world.contexts(org(fake))[0].id


def setup_key(fake: FakeCircleCI) -> str:
    project = fake.world.projects[0]
    setup = next(p for p in fake.world.pipelines(project.slug) if p.continuation_key)
    assert setup.continuation_key is not None
    return setup.continuation_key


def workflow_name(fake: FakeCircleCI) -> str:
    project = fake.world.projects[0]
    for pipeline in fake.world.pipelines(project.slug, branch=project.default_branch):
        for workflow in fake.world.workflows(pipeline.id):
            if workflow.status == "success" and workflow.tag is None:
                return workflow.name
    raise AssertionError("no successful workflow on the default branch")
