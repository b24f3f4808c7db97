"""A deterministic CircleCI world: organizations, projects, pipelines, workflows, jobs.

``World(seed, config)`` generates the same world, value for value, for the same
seed and config. Projects, pipelines, workflows and jobs are generated up
front (cheap); artifacts and test results are generated per job on first use,
from an RNG keyed by the job, so the order of lookups never changes the result.

The world is also the emulator's state: triggering, cancelling, rerunning and
approving replace the affected frozen values, so what a test reads from the
world is what the API answers.
"""

from __future__ import annotations

import base64
import hashlib
import random
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar
from urllib.parse import quote, unquote

import msgspec

from ._entities import (
    Artifact,
    CheckoutKey,
    Context,
    ContextEnvVar,
    ContextRestriction,
    Job,
    JobStatus,
    Organization,
    Pipeline,
    PipelineError,
    PipelineState,
    Project,
    ProjectEnvVar,
    ProjectSettings,
    TestResult,
    User,
    Workflow,
    WorkflowStatus,
)

__all__ = ["DEFAULT_START_TIME", "MiB", "World", "WorldConfig", "WorldError"]

T = TypeVar("T")

MiB = 1024 * 1024
DEFAULT_START_TIME = 1_748_779_200.0  # 2025-06-01T12:00:00Z: fixed, so worlds never depend on today

WORKFLOW_STATUSES: tuple[WorkflowStatus, ...] = (
    "success",
    "running",
    "not_run",
    "failed",
    "error",
    "failing",
    "on_hold",
    "canceled",
    "unauthorized",
)
FINISHED_WORKFLOW: frozenset[str] = frozenset(
    {"success", "not_run", "failed", "error", "canceled", "unauthorized"}
)
_ACTIVE_JOB: frozenset[str] = frozenset({"running", "queued", "not_running", "blocked", "on_hold"})
_STARTED_JOB: frozenset[str] = frozenset(
    {"success", "failed", "timedout", "infrastructure_fail", "running", "retried"}
)
_ARTIFACT_JOB: frozenset[str] = frozenset(
    {"success", "failed", "timedout", "canceled", "infrastructure_fail"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorldConfig:
    """How big the generated world is, and how many of the real service's quirks it has.

    Counts are upper bounds where ``quirks`` is on: errored and pending
    pipelines have no workflows, approval jobs and jobs that never started have no
    number and no artifacts. With ``quirks=False`` every pipeline is a created
    pipeline of successful workflows of numbered build jobs with one node, so the
    world holds exactly ``projects * pipelines_per_project * workflows_per_pipeline
    * jobs_per_workflow * artifacts_per_job`` artifacts (benchmarks want that).

    Artifact sizes run from 0 to ``max_artifact_size``; in addition the newest
    jobs of the first project get ``large_artifacts`` artifacts of exactly
    ``large_artifact_size`` bytes. ``hostile_paths`` adds artifacts whose paths
    try to escape a download directory (``../``, a leading ``/``).
    """

    projects: int = 3
    pipelines_per_project: int = 25
    workflows_per_pipeline: int = 2
    jobs_per_workflow: int = 4
    artifacts_per_job: int = 3
    max_parallelism: int = 3
    max_artifact_size: int = 64 * 1024
    large_artifacts: int = 0
    large_artifact_size: int = 64 * MiB
    tests_per_job: int = 6
    contexts_per_org: int = 2
    env_vars_per_project: int = 3
    quirks: bool = True
    hostile_paths: bool = False
    start_time: float = DEFAULT_START_TIME

    def __post_init__(self) -> None:
        for name in (
            "projects",
            "pipelines_per_project",
            "workflows_per_pipeline",
            "jobs_per_workflow",
            "artifacts_per_job",
            "max_artifact_size",
            "large_artifacts",
            "large_artifact_size",
            "tests_per_job",
            "contexts_per_org",
            "env_vars_per_project",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"WorldConfig.{name} must not be negative")
        if self.projects < 1:
            raise ValueError("WorldConfig.projects must be at least 1")
        if self.max_parallelism < 1:
            raise ValueError("WorldConfig.max_parallelism must be at least 1")


class WorldError(Exception):
    """A change the world refuses; ``status`` is the HTTP status the API answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_REPOS = (
    "web-app",
    "api-server",
    "mobile-app",
    "data-pipeline",
    "docs-site",
    "infra",
    "cli-tool",
    "sdk-python",
)
_WORKFLOW_NAMES = ("build-and-test", "deploy", "nightly", "lint", "release", "docs")
_JOB_NAMES = (
    "checkout",
    "build",
    "unit-tests",
    "lint",
    "integration-tests",
    "package",
    "e2e",
    "publish",
    "deploy-staging",
    "deploy-prod",
)
_BRANCHES = (
    "main",
    "main",
    "main",
    "develop",
    "feature/login-form",
    "fix/ünïcode-paths",
    "release/2.3",
    "dependabot/npm_and_yarn/lodash-4.17.21",
)
_ACTORS = ("ada-lovelace", "grace-hopper", "linus-t", "margaret-h")
_EXECUTORS = (
    ("docker", "small"),
    ("docker", "medium"),
    ("docker", "medium"),
    ("docker", "large"),
    ("docker", "xlarge"),
    ("machine", "medium"),
    ("macos", "macos.m1.medium.gen1"),
    ("windows", "windows.medium"),
)
_CONTEXT_NAMES = ("deploy-secrets", "aws-prod", "npm-publish", "slack-notify", "docker-hub")
_ENV_VAR_NAMES = ("AWS_ACCESS_KEY_ID", "NPM_TOKEN", "SLACK_WEBHOOK", "CODECOV_TOKEN", "SENTRY_DSN")
# Paths meant to trip up URL handling and file systems: spaces, unicode, a
# literal percent sequence, characters that are special in URLs.
_ARTIFACT_PATHS = (
    "test-results/junit.xml",
    "coverage/index.html",
    "coverage/lcov-report/src/app.js.html",
    "build/dist/app v{n}.tar.gz",
    "reports/résumé-ü-{n}.txt",
    "logs/already%20encoded-{n}.log",
    "screenshots/日本語/スクリーン {n}.png",
    "deep/a/b/c/d/e/f/trace-{n}.bin",
    "odd names/file #{n} (copy)+more&more?.txt",
    "build/output.bin",
)
_HOSTILE_PATHS = ("../escaped-{n}.txt", "/absolute/path-{n}.txt", "dir/../../up-{n}.txt")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _revision(rng: random.Random) -> str:
    return f"{rng.getrandbits(160):040x}"


def canonical_slug(slug: str) -> str:
    """``github/Org/Repo`` → ``gh/org/repo``: the key the world looks slugs up by."""
    parts = slug.strip("/").split("/")
    if parts and parts[0].lower() in ("github", "gh"):
        parts[0] = "gh"
    elif parts and parts[0].lower() in ("bitbucket", "bb"):
        parts[0] = "bb"
    return "/".join(parts).lower()


def _project_identity(org: Organization, name: str, project_id: str) -> tuple[str, str, str | None]:
    """Slug, VCS provider and repository URL of a project named ``name`` in ``org``.

    ``circleci/`` projects (GitHub App, GitLab) have an opaque slug and no
    repository URL that follows from it: ``None``, for the caller to choose.
    """
    if org.vcs_type == "circleci":
        return f"circleci/{org.id}/{project_id}", "CircleCI", None
    if org.vcs_type == "github":
        return f"gh/{org.name}/{name}", "GitHub", f"https://github.com/{org.name}/{name}"
    return f"bb/{org.name}/{name}", "Bitbucket", f"https://bitbucket.org/{org.name}/{name}"


class World:
    """A generated CircleCI world and its current state.

    Lookups raise ``KeyError`` for unknown keys. Lists are fresh lists; their
    items are frozen values. ``artifact_origin`` is where artifact URLs point
    (the emulator sets it when it binds its artifact host).
    """

    def __init__(
        self,
        seed: int = 0,
        config: WorldConfig | None = None,
        *,
        artifact_origin: str = "http://127.0.0.1:0",
        private: bool = True,
    ) -> None:
        self.seed = seed
        self.config = config if config is not None else WorldConfig()
        self.private = private
        self._artifact_origin = artifact_origin.rstrip("/")
        self._pipelines_by_project: dict[str, list[str]] = {}
        self._pipelines: dict[str, Pipeline] = {}
        self._workflows_by_pipeline: dict[str, list[str]] = {}
        self._workflows: dict[str, Workflow] = {}
        self._jobs_by_workflow: dict[str, list[str]] = {}
        self._jobs: dict[str, Job] = {}
        self._job_numbers: dict[tuple[str, int], str] = {}
        self._next_job_number: dict[str, int] = {}
        self._large: dict[str, int] = {}
        self._artifacts: dict[str, tuple[Artifact, ...]] = {}
        self._artifact_index: dict[str, dict[tuple[int, str], Artifact]] = {}
        self._tests: dict[str, tuple[TestResult, ...]] = {}
        self._org_pipelines: dict[str, list[str]] = {}
        self._contexts: dict[str, Context] = {}
        self._context_env: dict[str, dict[str, ContextEnvVar]] = {}
        self._project_env: dict[str, dict[str, ProjectEnvVar]] = {}
        self._checkout_keys: dict[str, dict[str, CheckoutKey]] = {}
        self._settings: dict[str, ProjectSettings] = {}
        self._restrictions: dict[str, dict[str, ContextRestriction]] = {}
        self._serial = 0  # things created through the API, so each gets fresh ids
        self._projects: tuple[Project, ...] = ()
        self._project_by_slug: dict[str, Project] = {}
        self._continuations: dict[str, str] = {}
        self._users: dict[str, User] = {}
        self._family_state: dict[object, object] = {}
        self._generate()

    def state(self, factory: Callable[[World], T]) -> T:
        """The state of one resource family, made by ``factory(self)`` on first use.

        Families beyond the core (schedules, webhooks, policies...) keep their
        stores this way, each in its own module. A factory must be deterministic
        from ``self.seed`` so that the same seed gives the same world.
        """
        found = self._family_state.get(factory)
        if found is None:
            found = self._family_state[factory] = factory(self)
        return found  # type: ignore[return-value]

    # ------------------------------------------------------------------ lookups

    @property
    def artifact_origin(self) -> str:
        return self._artifact_origin

    @artifact_origin.setter
    def artifact_origin(self, origin: str) -> None:
        # Artifacts carry their URL, so they are regenerated (identically but
        # for the origin) the next time they are asked for.
        self._artifact_origin = origin.rstrip("/")
        self._artifacts.clear()
        self._artifact_index.clear()

    @property
    def user(self) -> User:
        """The user the emulator's token belongs to."""
        return self._user

    def user_by_id(self, user_id: str) -> User:
        return self._users[user_id]

    @property
    def organizations(self) -> tuple[Organization, ...]:
        return self._organizations

    def organization(self, slug_or_id: str) -> Organization:
        key = canonical_slug(slug_or_id)
        for org in self._organizations:
            if org.id == slug_or_id or canonical_slug(org.slug) == key:
                return org
        raise KeyError(slug_or_id)

    @property
    def projects(self) -> tuple[Project, ...]:
        return self._projects

    def project(self, slug: str) -> Project:
        """The project with this slug (``gh``/``github`` alike, case-insensitive)."""
        found = self._project_by_slug.get(slug)
        return found if found is not None else self._project_by_slug[canonical_slug(slug)]

    def pipelines(self, slug: str, *, branch: str | None = None) -> list[Pipeline]:
        """A project's pipelines, newest first, optionally only those of one branch."""
        project = self.project(slug)
        ids = self._pipelines_by_project[project.slug]
        found = [self._pipelines[pid] for pid in reversed(ids)]
        if branch is not None:
            found = [p for p in found if p.branch == branch]
        return found

    def org_pipelines(self, org_slug: str | None = None) -> list[Pipeline]:
        """Pipelines of every project of an organization (all if ``None``), newest first."""
        key = "" if org_slug is None else canonical_slug(org_slug)
        cached = self._org_pipelines.get(key)
        if cached is None:
            projects = [
                p
                for p in self._projects
                if org_slug is None or canonical_slug(p.organization.slug) == key
            ]
            if org_slug is not None and not projects:
                self.organization(org_slug)  # KeyError unless the org is known (yet empty)
            found = [
                self._pipelines[pid] for p in projects for pid in self._pipelines_by_project[p.slug]
            ]
            found.sort(key=lambda p: (p.created_at, p.id), reverse=True)
            cached = [p.id for p in found]
            self._org_pipelines[key] = cached
        return [self._pipelines[pid] for pid in cached]

    def pipeline(self, pipeline_id: str) -> Pipeline:
        return self._pipelines[pipeline_id]

    def pipeline_by_number(self, slug: str, number: int) -> Pipeline:
        project = self.project(slug)
        ids = self._pipelines_by_project[project.slug]
        if not 1 <= number <= len(ids):
            raise KeyError(number)
        return self._pipelines[ids[number - 1]]

    def workflows(self, pipeline_id: str) -> list[Workflow]:
        """A pipeline's workflows in the order they were created (reruns last)."""
        return [self._workflows[wid] for wid in self._workflows_by_pipeline[pipeline_id]]

    def workflow(self, workflow_id: str) -> Workflow:
        return self._workflows[workflow_id]

    def jobs(self, workflow_id: str) -> list[Job]:
        return [self._jobs[jid] for jid in self._jobs_by_workflow[workflow_id]]

    def job(self, job_id: str) -> Job:
        return self._jobs[job_id]

    def job_by_number(self, slug: str, number: int) -> Job:
        project = self.project(slug)
        return self._jobs[self._job_numbers[(project.slug, number)]]

    def artifacts(self, job: Job | str) -> list[Artifact]:
        """A job's artifacts, by node and then in the order the job stored them."""
        found = self._job(job)
        return list(self._artifacts_of(found))

    def artifact(self, job_id: str, node_index: int, path: str) -> Artifact:
        self._artifacts_of(self._jobs[job_id])
        return self._artifact_index[job_id][(node_index, path)]

    def store_artifact(
        self, job: Job | str, path: str, *, size: int, node_index: int = 0, at: int | None = None
    ) -> Artifact:
        """A job uploads one more artifact (a job still running, a later listing).

        ``at`` is its place in the job's listing (default: last).
        """
        found = self._job(job)
        existing = self._artifacts_of(found)
        if found.number is None:
            raise ValueError("a job without a number has no artifacts")
        digest = hashlib.blake2b(
            f"{self.seed}:{found.id}:{node_index}:{path}:stored".encode(), digest_size=8
        ).digest()
        base = f"{self._artifact_origin}/output/job/{found.id}/artifacts"
        artifact = Artifact(
            job_id=found.id,
            job_number=found.number,
            project_slug=found.project_slug,
            node_index=node_index,
            path=path,
            size=size,
            seed=int.from_bytes(digest, "big"),
            url=f"{base}/{node_index}/{quote_artifact_path(path)}",
        )
        listing = list(existing)
        listing.insert(len(listing) if at is None else at, artifact)
        self._artifacts[found.id] = tuple(listing)
        self._artifact_index[found.id][(node_index, path)] = artifact
        return artifact

    def iter_artifacts(self) -> Iterator[Artifact]:
        """Every artifact of the world, project by project, oldest pipeline first."""
        for project in self._projects:
            for pid in self._pipelines_by_project[project.slug]:
                for wid in self._workflows_by_pipeline[pid]:
                    for jid in self._jobs_by_workflow[wid]:
                        yield from self._artifacts_of(self._jobs[jid])

    def tests(self, job: Job | str) -> list[TestResult]:
        """A job's test results, consistent with its status (a failed job has failures)."""
        found = self._job(job)
        cached = self._tests.get(found.id)
        if cached is None:
            cached = self._generate_tests(found)
            self._tests[found.id] = cached
        return list(cached)

    def project_of(self, item: Pipeline | Workflow | Job) -> Project:
        return self.project(item.project_slug)

    def contexts(self, owner_id: str) -> list[Context]:
        return [c for c in self._contexts.values() if c.owner_id == owner_id]

    def context(self, context_id: str) -> Context:
        return self._contexts[context_id]

    def context_env_vars(self, context_id: str) -> list[ContextEnvVar]:
        self._contexts[context_id]
        return list(self._context_env[context_id].values())

    def env_vars(self, slug: str) -> list[ProjectEnvVar]:
        return list(self._project_env[self.project(slug).slug].values())

    def env_var(self, slug: str, name: str) -> ProjectEnvVar:
        return self._project_env[self.project(slug).slug][name]

    def project_by_id(self, project_id: str) -> Project:
        for project in self._projects:
            if project.id == project_id:
                return project
        raise KeyError(project_id)

    def checkout_keys(self, slug: str) -> list[CheckoutKey]:
        """A project's checkout keys, oldest first."""
        return list(self._checkout_keys[self.project(slug).slug].values())

    def checkout_key(self, slug: str, fingerprint: str) -> CheckoutKey:
        """The key with this fingerprint, in either its MD5 or its SHA256 form."""
        for key in self._checkout_keys[self.project(slug).slug].values():
            if fingerprint in (key.md5, key.sha256):
                return key
        raise KeyError(fingerprint)

    def project_settings(self, slug: str) -> ProjectSettings:
        return self._settings[self.project(slug).slug]

    def context_restrictions(self, context_id: str) -> list[ContextRestriction]:
        """A context's restrictions, oldest first; ``KeyError`` for an unknown context."""
        return list(self._restrictions[context_id].values())

    def continuation_key(self, pipeline_id: str) -> str | None:
        """The key a setup pipeline's continuation needs (real jobs get it from the env)."""
        return self._pipelines[pipeline_id].continuation_key

    def counts(self) -> Mapping[str, int]:
        """How many of each thing the world holds right now (artifacts are generated)."""
        return {
            "projects": len(self._projects),
            "pipelines": len(self._pipelines),
            "workflows": len(self._workflows),
            "jobs": len(self._jobs),
            "artifacts": sum(1 for _ in self.iter_artifacts()),
        }

    def _job(self, job: Job | str) -> Job:
        return self._jobs[job if isinstance(job, str) else job.id]

    # ---------------------------------------------------------------- mutations

    def trigger_pipeline(
        self,
        slug: str,
        *,
        now: float,
        branch: str | None = None,
        tag: str | None = None,
        parameters: Mapping[str, Any] | None = None,
    ) -> Pipeline:
        """``POST /project/{slug}/pipeline``: a new pipeline with the next number."""
        project = self.project(slug)
        if branch is not None and tag is not None:
            raise WorldError(400, "You cannot specify both a branch and a tag.")
        ids = self._pipelines_by_project[project.slug]
        number = len(ids) + 1
        rng = random.Random(f"world:{self.seed}:trigger:{project.slug}:{number}")
        pipeline = self._make_pipeline(
            project,
            number,
            now,
            "created",
            rng,
            trigger_type="api",
            actor=self._user.login,
            branch=branch if tag is None else None,
            tag=tag,
            default_branch=branch is None and tag is None,
            parameters=dict(parameters) if parameters else None,
        )
        self._add_pipeline(pipeline)
        self._add_workflows(project, pipeline, rng, forced=(), running=True)
        return self._pipelines[pipeline.id]

    def continue_pipeline(
        self, continuation_key: str, configuration: str, *, now: float
    ) -> Pipeline:
        """``POST /pipeline/continue``: a setup pipeline gets its real workflows."""
        pipeline_id = self._continuations.pop(continuation_key, None)
        if pipeline_id is None:
            raise WorldError(400, "Invalid or already used continuation key.")
        if not configuration.strip():
            raise WorldError(400, "configuration must not be empty.")
        pipeline = self._pipelines[pipeline_id]
        project = self.project(pipeline.project_slug)
        pipeline = msgspec.structs.replace(
            pipeline, state="created", continuation_key=None, updated_at=now
        )
        self._pipelines[pipeline.id] = pipeline
        rng = random.Random(f"world:{self.seed}:continue:{pipeline.id}")
        self._add_workflows(project, pipeline, rng, forced=(), running=True, start=now)
        return pipeline

    def cancel_workflow(self, workflow_id: str, *, now: float) -> Workflow:
        """``POST /workflow/{id}/cancel``; a finished workflow stays as it is."""
        workflow = self._workflows[workflow_id]
        if workflow.status in FINISHED_WORKFLOW:
            return workflow
        for jid in self._jobs_by_workflow[workflow_id]:
            job = self._jobs[jid]
            if job.status in _ACTIVE_JOB:
                self._jobs[jid] = msgspec.structs.replace(
                    job,
                    status="canceled",
                    canceled_by=self._user.id,
                    stopped_at=now if job.started_at is not None else None,
                )
        workflow = msgspec.structs.replace(
            workflow, status="canceled", canceled_by=self._user.id, stopped_at=now
        )
        self._workflows[workflow_id] = workflow
        self._touch(workflow.pipeline_id, now)
        return workflow

    def rerun_workflow(
        self,
        workflow_id: str,
        *,
        now: float,
        from_failed: bool = False,
        jobs: Sequence[str] = (),
    ) -> Workflow:
        """``POST /workflow/{id}/rerun``: a new running workflow in the same pipeline."""
        workflow = self._workflows[workflow_id]
        if from_failed and jobs:
            raise WorldError(400, "Only one of from_failed and jobs may be given.")
        if workflow.status not in FINISHED_WORKFLOW:
            raise WorldError(400, "Cannot rerun a workflow that is still running.")
        if from_failed and workflow.status not in ("failed", "error"):
            raise WorldError(400, "from_failed requires a failed workflow.")
        own = set(self._jobs_by_workflow[workflow_id])
        for jid in jobs:
            if jid not in own:
                raise WorldError(400, f"Job {jid} is not part of workflow {workflow_id}.")
        pipeline = self._pipelines[workflow.pipeline_id]
        project = self.project(pipeline.project_slug)
        count = len(self._workflows_by_pipeline[pipeline.id])
        rng = random.Random(f"world:{self.seed}:rerun:{workflow_id}:{count}")
        template = [self._jobs[jid] for jid in self._jobs_by_workflow[workflow_id]]
        new = Workflow(
            id=_uuid(rng),
            pipeline_id=pipeline.id,
            pipeline_number=pipeline.number,
            project_slug=project.slug,
            name=workflow.name,
            status="running",
            created_at=now,
            stopped_at=None,
            started_by=self._user.id,
            tag=workflow.tag,
        )
        self._register_workflow(new)
        names = [(j.name, j.type) for j in template]
        self._make_jobs(project, new, names, "running", rng, start=now)
        self._touch(pipeline.id, now)
        return new

    def approve(self, workflow_id: str, approval_request_id: str, *, now: float) -> Job:
        """``POST /workflow/{id}/approve/{approval_request_id}``: the workflow runs on."""
        workflow = self._workflows[workflow_id]
        job_ids = self._jobs_by_workflow[workflow_id]
        for position, jid in enumerate(job_ids):
            job = self._jobs[jid]
            if job.approval_request_id != approval_request_id:
                continue
            if job.status != "on_hold":
                raise WorldError(400, "This approval job is not on hold.")
            job = msgspec.structs.replace(
                job, status="success", approved_by=self._user.id, started_at=now, stopped_at=now
            )
            self._jobs[jid] = job
            project = self.project(workflow.project_slug)
            for later in job_ids[position + 1 :]:
                nxt = self._jobs[later]
                if nxt.status == "blocked":
                    number = self._take_number(project.slug) if nxt.type == "build" else None
                    nxt = msgspec.structs.replace(
                        nxt, status="running", number=number, started_at=now, queued_at=now
                    )
                    self._jobs[later] = nxt
                    if number is not None:
                        self._job_numbers[(project.slug, number)] = nxt.id
                    break
            self._workflows[workflow_id] = msgspec.structs.replace(workflow, status="running")
            self._touch(workflow.pipeline_id, now)
            return job
        raise WorldError(404, "Approval request not found.")

    def cancel_job(self, job_id: str, *, now: float) -> Job:
        """Cancel one job; its workflow, if still going, is cancelled with it."""
        job = self._jobs[job_id]
        if job.status not in _ACTIVE_JOB:
            return job
        job = msgspec.structs.replace(
            job, status="canceled", canceled_by=self._user.id, stopped_at=now
        )
        self._jobs[job_id] = job
        workflow = self._workflows[job.workflow_id]
        if workflow.status not in FINISHED_WORKFLOW:
            self.cancel_workflow(workflow.id, now=now)
        return self._jobs[job_id]

    def create_context(self, owner: Organization, name: str, *, now: float) -> Context:
        if not name:
            raise WorldError(400, "name must not be empty.")
        rng = random.Random(f"world:{self.seed}:context:{owner.id}:{name}:{len(self._contexts)}")
        context = Context(id=_uuid(rng), name=name, created_at=now, owner_id=owner.id)
        self._contexts[context.id] = context
        self._context_env[context.id] = {}
        self._restrictions[context.id] = {}
        return context

    def delete_context(self, context_id: str) -> None:
        del self._contexts[context_id]
        del self._context_env[context_id]
        del self._restrictions[context_id]

    def put_context_env_var(
        self, context_id: str, variable: str, value: str, *, now: float
    ) -> ContextEnvVar:
        self._contexts[context_id]
        existing = self._context_env[context_id].get(variable)
        created = existing.created_at if existing is not None else now
        env = ContextEnvVar(
            context_id=context_id,
            variable=variable,
            value=value,
            created_at=created,
            updated_at=now,
        )
        self._context_env[context_id][variable] = env
        return env

    def delete_context_env_var(self, context_id: str, variable: str) -> None:
        del self._context_env[context_id][variable]

    def create_env_var(self, slug: str, name: str, value: str, *, now: float) -> ProjectEnvVar:
        if not name:
            raise WorldError(400, "name must not be empty.")
        env = ProjectEnvVar(name=name, value=value, created_at=now)
        self._project_env[self.project(slug).slug][name] = env
        return env

    def delete_env_var(self, slug: str, name: str) -> None:
        del self._project_env[self.project(slug).slug][name]

    def create_project(self, org_slug_or_id: str, name: str, *, now: float) -> Project:
        """``POST /organization/{org}/project``: an empty project (``KeyError``: no such org)."""
        org = self.organization(org_slug_or_id)
        if org.vcs_type == "circleci":
            valid = name.strip() == name and name.isprintable() and "/" not in name
        else:
            valid = _REPO_NAME.fullmatch(name) is not None
        if not valid or not 0 < len(name) <= 100 or name in (".", ".."):
            raise WorldError(400, f"Invalid project name: {name!r}.")
        if any(
            p.organization.id == org.id and p.name.lower() == name.lower() for p in self._projects
        ):
            raise WorldError(409, "A project with this name already exists.")
        rng = random.Random(f"world:{self.seed}:new-project:{org.id}:{name}:{self._next_serial()}")
        project_id = _uuid(rng)
        slug, provider, vcs_url = _project_identity(org, name, project_id)
        # A project made through the API has no repository behind it yet.
        vcs_url = vcs_url or f"//circleci.com/{org.id}/{project_id}"
        project = Project(
            id=project_id,
            slug=slug,
            name=name,
            organization=org,
            vcs_url=vcs_url,
            provider=provider,
            default_branch="main",
            private=self.private,
        )
        self._projects = (*self._projects, project)
        self._project_by_slug[canonical_slug(slug)] = project
        self._pipelines_by_project[slug] = []
        self._next_job_number[slug] = 1
        self._project_env[slug] = {}
        self._checkout_keys[slug] = {}
        self._settings[slug] = ProjectSettings(
            oss=not self.private, set_github_status=provider == "GitHub"
        )
        self._org_pipelines.clear()
        return project

    def delete_project(self, slug: str) -> None:
        """``DELETE /project/{slug}``: the project and everything under it are gone."""
        project = self.project(slug)
        key = project.slug
        for pid in self._pipelines_by_project.pop(key):
            self._pipelines.pop(pid)
            for wid in self._workflows_by_pipeline.pop(pid):
                self._workflows.pop(wid)
                for jid in self._jobs_by_workflow.pop(wid):
                    self._jobs.pop(jid)
                    for cache in (self._artifacts, self._artifact_index, self._tests, self._large):
                        cache.pop(jid, None)
        self._continuations = {
            k: pid for k, pid in self._continuations.items() if pid in self._pipelines
        }
        self._job_numbers = {k: jid for k, jid in self._job_numbers.items() if k[0] != key}
        self._next_job_number.pop(key, None)
        self._project_env.pop(key, None)
        self._checkout_keys.pop(key, None)
        self._settings.pop(key, None)
        for restrictions in self._restrictions.values():
            for rid in [r.id for r in restrictions.values() if r.project_id == project.id]:
                del restrictions[rid]
        self._projects = tuple(p for p in self._projects if p.id != project.id)
        del self._project_by_slug[canonical_slug(key)]
        self._org_pipelines.clear()

    def create_checkout_key(
        self, slug: str, key_type: Literal["deploy-key", "user-key"], *, now: float
    ) -> CheckoutKey:
        """A new key; a user key becomes the preferred one, a deploy key only if no user key."""
        project = self.project(slug)
        vcs = project.organization.vcs_type
        if vcs == "circleci":
            raise WorldError(
                400, "Checkout keys are not available to projects that use GitLab or GitHub App."
            )
        if key_type == "user-key" and vcs != "github":
            raise WorldError(400, "User keys can only be created for GitHub projects.")
        rng = random.Random(f"world:{self.seed}:checkout:{project.slug}:{self._next_serial()}")
        kind: Literal["deploy-key", "github-user-key"] = (
            "github-user-key" if key_type == "user-key" else "deploy-key"
        )
        key = _checkout_key(rng, project.slug, kind, now)
        self._checkout_keys[project.slug][key.md5] = key
        self._prefer(project.slug)
        return self._checkout_keys[project.slug][key.md5]

    def delete_checkout_key(self, slug: str, fingerprint: str) -> None:
        key = self.checkout_key(slug, fingerprint)
        del self._checkout_keys[key.project_slug][key.md5]
        self._prefer(key.project_slug)

    def update_project_settings(self, slug: str, changes: Mapping[str, Any]) -> ProjectSettings:
        """Change the named advanced settings; the others stay as they are."""
        project = self.project(slug)
        known = set(ProjectSettings.__struct_fields__)
        unknown = sorted(set(changes) - known)
        if unknown:
            raise WorldError(400, f"Unknown settings: {', '.join(unknown)}.")
        values = dict(changes)
        if "pr_only_branch_overrides" in values:
            values["pr_only_branch_overrides"] = tuple(values["pr_only_branch_overrides"])
        settings = msgspec.structs.replace(self._settings[project.slug], **values)
        self._settings[project.slug] = settings
        return settings

    def create_context_restriction(
        self,
        context_id: str,
        restriction_type: Literal["project", "expression", "group"],
        value: str,
    ) -> ContextRestriction:
        """Restrict a context to a project of its owner, an expression, or a group."""
        context = self._contexts[context_id]
        name = project_id = None
        if restriction_type in ("project", "group"):
            try:
                value = str(uuid.UUID(value))
            except ValueError:
                raise WorldError(
                    400, f"restriction_value must be a {restriction_type} ID."
                ) from None
        if restriction_type == "project":
            try:
                project = self.project_by_id(value)
            except KeyError:
                raise WorldError(404, "Project not found.") from None
            if project.organization.id != context.owner_id:
                raise WorldError(400, "The project does not belong to the context's owner.")
            name, project_id = project.name, project.id
        elif restriction_type == "expression" and not value.strip():
            raise WorldError(400, "restriction_value must not be empty.")
        existing = self._restrictions[context_id]
        if any(r.type == restriction_type and r.value == value for r in existing.values()):
            raise WorldError(409, "This restriction already exists.")
        rng = random.Random(f"world:{self.seed}:restriction:{context_id}:{self._next_serial()}")
        restriction = ContextRestriction(
            id=_uuid(rng),
            context_id=context_id,
            type=restriction_type,
            value=value,
            name=name,
            project_id=project_id,
        )
        existing[restriction.id] = restriction
        return restriction

    def delete_context_restriction(self, context_id: str, restriction_id: str) -> None:
        del self._restrictions[context_id][restriction_id]

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _prefer(self, slug: str) -> None:
        keys = self._checkout_keys[slug]
        ranked = sorted(
            enumerate(keys.values()),
            key=lambda item: (item[1].type == "github-user-key", item[1].created_at, item[0]),
        )
        best = ranked[-1][1].md5 if ranked else None
        for fingerprint, key in keys.items():
            if key.preferred != (fingerprint == best):
                keys[fingerprint] = msgspec.structs.replace(key, preferred=fingerprint == best)

    # --------------------------------------------------------------- generation

    def _generate(self) -> None:
        config = self.config
        rng = random.Random(f"world:{self.seed}:people")
        self._user = User(
            id=_uuid(rng),
            login="octo-dev",
            name="Octo Developer",
            avatar_url=None if config.quirks else "https://avatars.example.com/u/1?v=4",
        )
        self._users[self._user.id] = self._user
        self._actors: dict[str, User] = {self._user.login: self._user}
        for index, login in enumerate(_ACTORS):
            actor = User(
                id=_uuid(rng),
                login=login,
                name=login.replace("-", " ").title(),
                avatar_url=None
                if config.quirks and index % 2
                else f"https://avatars.example.com/u/{index + 2}?v=4",
            )
            self._users[actor.id] = actor
            self._actors[login] = actor
        orgs = [
            Organization(
                id=_uuid(rng),
                slug="gh/acme-corp",
                name="acme-corp",
                vcs_type="github",
                avatar_url="https://avatars.example.com/o/acme-corp",
            ),
            Organization(
                id=_uuid(rng),
                slug="bb/acme-bb",
                name="acme-bb",
                vcs_type="bitbucket",
                avatar_url="https://avatars.example.com/o/acme-bb",
            ),
        ]
        app_org_id = _uuid(rng)
        orgs.append(
            Organization(
                id=app_org_id,
                slug=f"circleci/{app_org_id}",
                name="acme-app",
                vcs_type="circleci",
                avatar_url="https://avatars.example.com/o/acme-app",
            )
        )
        projects: list[Project] = []
        for index in range(config.projects):
            org = orgs[index % 3]
            repo = _REPOS[index % len(_REPOS)]
            if index >= len(_REPOS):
                repo = f"{repo}-{index // len(_REPOS)}"
            project_id = _uuid(rng)
            slug, provider, vcs_url = _project_identity(org, repo, project_id)
            # The generated GitHub App projects build repositories of an "acme-app" org.
            vcs_url = vcs_url or f"https://github.com/acme-app/{repo}"
            projects.append(
                Project(
                    id=project_id,
                    slug=slug,
                    name=repo,
                    organization=org,
                    vcs_url=vcs_url,
                    provider=provider,
                    default_branch="main",
                    private=self.private,
                )
            )
        # Only organizations with a project are visible to the token.
        used = {p.organization.id for p in projects}
        self._organizations = tuple(o for o in orgs if o.id in used)
        self._projects = tuple(projects)
        self._project_by_slug = {canonical_slug(p.slug): p for p in projects}
        for index, project in enumerate(projects):
            self._generate_project(index, project)
        self._plan_large_artifacts()
        for org in self._organizations:
            crng = random.Random(f"world:{self.seed}:contexts:{org.id}")
            for index in range(config.contexts_per_org):
                name = _CONTEXT_NAMES[index % len(_CONTEXT_NAMES)]
                if index >= len(_CONTEXT_NAMES):
                    name = f"{name}-{index // len(_CONTEXT_NAMES)}"
                created = config.start_time - crng.uniform(30, 300) * 86400
                context = Context(id=_uuid(crng), name=name, created_at=created, owner_id=org.id)
                self._contexts[context.id] = context
                env: dict[str, ContextEnvVar] = {}
                for variable in ("API_KEY", "DEPLOY_TOKEN"):
                    env[variable] = ContextEnvVar(
                        context_id=context.id,
                        variable=variable,
                        value=f"{crng.getrandbits(64):016x}",
                        created_at=created,
                        updated_at=created + crng.uniform(0, 86400),
                    )
                self._context_env[context.id] = env
                self._restrictions[context.id] = {}
                if index == 0:
                    self._seed_restriction(context)
        for project in projects:
            erng = random.Random(f"world:{self.seed}:env:{project.slug}")
            envs: dict[str, ProjectEnvVar] = {}
            for index in range(config.env_vars_per_project):
                name = _ENV_VAR_NAMES[index % len(_ENV_VAR_NAMES)]
                if index >= len(_ENV_VAR_NAMES):
                    name = f"{name}_{index // len(_ENV_VAR_NAMES)}"
                envs[name] = ProjectEnvVar(
                    name=name,
                    value=f"{erng.getrandbits(96):024x}",
                    created_at=config.start_time - erng.uniform(1, 200) * 86400,
                )
            self._project_env[project.slug] = envs
            self._seed_checkout_keys(project)
            self._seed_settings(project)

    def _seed_restriction(self, context: Context) -> None:
        """The first context of an organization is restricted to the org's first project."""
        project = next((p for p in self._projects if p.organization.id == context.owner_id), None)
        if project is None:
            return
        rng = random.Random(f"world:{self.seed}:restriction:{context.id}")
        restriction = ContextRestriction(
            id=_uuid(rng),
            context_id=context.id,
            type="project",
            value=project.id,
            name=project.name,
            project_id=project.id,
        )
        self._restrictions[context.id][restriction.id] = restriction

    def _seed_checkout_keys(self, project: Project) -> None:
        """A deploy key for every VCS project, and now and then a user key beside it."""
        self._checkout_keys[project.slug] = {}
        vcs = project.organization.vcs_type
        if vcs == "circleci":
            return
        rng = random.Random(f"world:{self.seed}:checkout:{project.slug}")
        created = self.config.start_time - rng.uniform(200, 400) * 86400
        kinds: list[Literal["deploy-key", "github-user-key"]] = ["deploy-key"]
        if vcs == "github" and rng.random() < 0.5:
            kinds.append("github-user-key")
        for kind in kinds:
            key = _checkout_key(rng, project.slug, kind, created)
            self._checkout_keys[project.slug][key.md5] = key
            created += rng.uniform(1, 100) * 86400
        self._prefer(project.slug)

    def _seed_settings(self, project: Project) -> None:
        rng = random.Random(f"world:{self.seed}:settings:{project.slug}")
        pipelines = self._pipelines_by_project[project.slug]
        self._settings[project.slug] = ProjectSettings(
            autocancel_builds=rng.random() < 0.5,
            build_fork_prs=rng.random() < 0.3,
            build_prs_only=rng.random() < 0.2,
            oss=not project.private,
            set_github_status=project.provider != "Bitbucket",
            setup_workflows=any(self._pipelines[pid].state == "setup" for pid in pipelines),
            write_settings_requires_admin=rng.random() < 0.5,
            pr_only_branch_overrides=(project.default_branch,),
        )

    def _generate_project(self, index: int, project: Project) -> None:
        config = self.config
        rng = random.Random(f"world:{self.seed}:project:{index}")
        self._pipelines_by_project[project.slug] = []
        self._next_job_number[project.slug] = 1 + rng.randrange(0, 5000)
        count = config.pipelines_per_project
        newest = config.start_time - index * 617.0
        times = [newest]
        for _ in range(count - 1):
            times.append(times[-1] - rng.uniform(300, 7200))
        times.reverse()
        states: dict[int, PipelineState] = {}
        for number in range(1, count + 1):
            states[number] = "created"
            if config.quirks:
                roll = rng.random()
                if roll < 0.06:
                    states[number] = "errored"
                elif roll < 0.08:
                    states[number] = "setup"
        forced: dict[int, list[WorkflowStatus]] = {}
        if config.quirks and index == 0:
            # The first project's newest pipelines show every pipeline state and
            # every workflow status, so even a small world has them all.
            plan: list[PipelineState] = ["errored", "setup", "setup-pending", "pending"]
            if count >= 8:
                for offset, planned in enumerate(plan, start=1):
                    states[count - offset] = planned
            pending = list(WORKFLOW_STATUSES)
            for number in range(count, 0, -1):
                if number > count - 1 - len(plan) and number != count and count >= 8:
                    continue
                states[number] = "created"
                take = pending[: config.workflows_per_pipeline]
                if not take:
                    break
                forced[number] = take
                del pending[: len(take)]
        for number in range(1, count + 1):
            state = states[number]
            recent = count - number < 3
            pipeline = self._make_pipeline(project, number, times[number - 1], state, rng)
            self._add_pipeline(pipeline)
            self._add_workflows(
                project, pipeline, rng, forced=forced.get(number, ()), running=False, recent=recent
            )

    def _make_pipeline(
        self,
        project: Project,
        number: int,
        created: float,
        state: PipelineState,
        rng: random.Random,
        *,
        trigger_type: str | None = None,
        actor: str | None = None,
        branch: str | None = None,
        tag: str | None = None,
        default_branch: bool = False,
        parameters: dict[str, Any] | None = None,
    ) -> Pipeline:
        quirks = self.config.quirks
        if trigger_type is None:
            roll = rng.random()
            trigger_type = (
                "webhook"
                if roll < 0.7 or not quirks
                else "api"
                if roll < 0.85
                else "scheduled_pipeline"
                if roll < 0.93
                else "explicit"
            )
        if actor is None:
            actor = self._user.login if rng.random() < 0.4 else rng.choice(_ACTORS)
        if branch is None and tag is None:
            if default_branch:
                branch = project.default_branch
            elif quirks and rng.random() < 0.1:
                tag = f"v{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}"
            else:
                branch = rng.choice(_BRANCHES) if quirks else project.default_branch
        review_id = review_url = None
        if quirks and branch is not None and branch.startswith(("feature/", "fix/")):
            review_id = str(rng.randint(1, 999))
            review_url = f"{project.vcs_url}/pull/{review_id}"
        errors: tuple[PipelineError, ...] = ()
        if state == "errored":
            errors = (
                PipelineError(
                    type="config",
                    message="Config does not conform to schema: {:workflows {:build-and-test "
                    "{:jobs [{:unit-tests missing-required-key}]}}}",
                ),
            )
        subject: str | None = rng.choice(
            ("Fix flaky test", "Bump dependencies", "Add login form", "Refactor artifact upload")
        )
        body: str | None = "Longer description of the change." if rng.random() < 0.5 else None
        if quirks and rng.random() < 0.05:
            subject = None
        pipeline_id = _uuid(rng)
        continuation_key = None
        if state == "setup":
            continuation_key = f"{rng.getrandbits(256):064x}"
            self._continuations[continuation_key] = pipeline_id
        if parameters is None and quirks and rng.random() < 0.2:
            parameters = {"deploy": rng.random() < 0.5, "image-tag": "latest", "retries": 3}
        received = created - rng.uniform(0.05, 2.0)
        actor_user = self._actors[actor]
        return Pipeline(
            id=pipeline_id,
            project_slug=project.slug,
            number=number,
            state=state,
            created_at=created,
            updated_at=created,
            errors=errors,
            trigger_type=trigger_type,
            trigger_received_at=received,
            actor_login=actor,
            actor_avatar_url=actor_user.avatar_url,
            branch=branch,
            tag=tag,
            revision=_revision(rng),
            commit_subject=subject,
            commit_body=body,
            review_id=review_id,
            review_url=review_url,
            trigger_parameters=parameters,
            continuation_key=continuation_key,
        )

    def _add_pipeline(self, pipeline: Pipeline) -> None:
        self._pipelines[pipeline.id] = pipeline
        self._pipelines_by_project[pipeline.project_slug].append(pipeline.id)
        self._workflows_by_pipeline[pipeline.id] = []
        self._org_pipelines.clear()

    def _touch(self, pipeline_id: str, now: float) -> None:
        pipeline = self._pipelines[pipeline_id]
        if now > pipeline.updated_at:
            self._pipelines[pipeline_id] = msgspec.structs.replace(pipeline, updated_at=now)

    def _register_workflow(self, workflow: Workflow) -> None:
        self._workflows[workflow.id] = workflow
        self._workflows_by_pipeline[workflow.pipeline_id].append(workflow.id)
        self._jobs_by_workflow[workflow.id] = []

    def _add_workflows(
        self,
        project: Project,
        pipeline: Pipeline,
        rng: random.Random,
        *,
        forced: Sequence[WorkflowStatus],
        running: bool,
        recent: bool = False,
        start: float | None = None,
    ) -> None:
        config = self.config
        if pipeline.state in ("errored", "setup-pending", "pending"):
            return
        begin = pipeline.created_at if start is None else start
        if pipeline.state == "setup":
            workflow = Workflow(
                id=_uuid(rng),
                pipeline_id=pipeline.id,
                pipeline_number=pipeline.number,
                project_slug=project.slug,
                name="setup",
                status="success",
                created_at=begin + 1.0,
                stopped_at=None,
                started_by=self._actors[pipeline.actor_login].id,
                tag="setup",
            )
            self._register_workflow(workflow)
            self._make_jobs(project, workflow, [("setup", "build")], "success", rng, start=begin)
            return
        offset = rng.randrange(len(_WORKFLOW_NAMES))
        for position in range(config.workflows_per_pipeline):
            name = _WORKFLOW_NAMES[(offset + position) % len(_WORKFLOW_NAMES)]
            if position >= len(_WORKFLOW_NAMES):
                name = f"{name}-{position // len(_WORKFLOW_NAMES)}"
            status: WorkflowStatus
            if running:
                status = "running"
            elif position < len(forced):
                status = forced[position]
            elif not config.quirks:
                status = "success"
            else:
                status = _random_status(rng, recent)
            started_by = self._actors[pipeline.actor_login].id
            workflow = Workflow(
                id=_uuid(rng),
                pipeline_id=pipeline.id,
                pipeline_number=pipeline.number,
                project_slug=project.slug,
                name=name,
                status=status,
                created_at=begin + 1.0 + position * 0.25,
                stopped_at=None,
                started_by=started_by,
                canceled_by=self._user.id if status == "canceled" else None,
                errored_by=started_by if status == "error" else None,
            )
            if config.quirks and rng.random() < 0.1:
                workflow = msgspec.structs.replace(workflow, max_auto_reruns=2, auto_rerun_number=1)
            self._register_workflow(workflow)
            names = _job_names(config.jobs_per_workflow, rng, config.quirks, status)
            self._make_jobs(project, workflow, names, status, rng, start=workflow.created_at)

    def _make_jobs(
        self,
        project: Project,
        workflow: Workflow,
        names: Sequence[tuple[str, Literal["build", "approval"]]],
        status: WorkflowStatus,
        rng: random.Random,
        *,
        start: float,
    ) -> None:
        config = self.config
        statuses = _job_statuses(status, [kind for _, kind in names], rng)
        clock = start + rng.uniform(1, 5)
        previous: list[str] = []
        last_stop: float | None = None
        first_canceled = True
        for (name, kind), job_status in zip(names, statuses, strict=True):
            job_id = _uuid(rng)
            started = job_status in _STARTED_JOB
            if job_status == "canceled":
                # Only the job that was running when the workflow was cancelled
                # ever started; the ones after it never got a number.
                started, first_canceled = first_canceled, False
            if kind == "approval":
                started = job_status == "success"
            number: int | None = None
            has_details = True
            if kind == "build" and started:
                number = self._take_number(project.slug)
            elif kind == "approval" and config.quirks and started and rng.random() < 0.3:
                # Some approval jobs carry a number, yet job details 404 for them.
                number = self._take_number(project.slug)
                has_details = False
            duration = rng.uniform(20, 600)
            queued = clock
            started_at = clock + rng.uniform(0.5, 8) if started else None
            finished = job_status not in _ACTIVE_JOB and started
            stopped_at = started_at + duration if finished and started_at is not None else None
            parallelism = 1
            if kind == "build" and config.quirks and config.max_parallelism > 1:
                if rng.random() < 0.25:
                    parallelism = rng.randint(2, config.max_parallelism)
            executor, resource = rng.choice(_EXECUTORS) if kind == "build" else ("docker", "small")
            dependencies: tuple[str, ...] = ()
            if previous:
                dependencies = (previous[-1],) if rng.random() < 0.8 else (previous[0],)
            request_id = None
            approved_by = None
            if kind == "approval":
                request_id = job_id if rng.random() < 0.5 else _uuid(rng)
                approved_by = self._user.id if job_status == "success" else None
                executor, resource = "none", "none"
            contexts: tuple[str, ...] = ()
            if kind == "build" and name.startswith(("deploy", "publish")):
                contexts = ("deploy-secrets",)
            job = Job(
                id=job_id,
                workflow_id=workflow.id,
                pipeline_id=workflow.pipeline_id,
                project_slug=project.slug,
                name=name,
                type=kind,
                status=job_status,
                number=number,
                created_at=queued,
                queued_at=queued,
                started_at=started_at,
                stopped_at=stopped_at,
                dependencies=dependencies,
                approval_request_id=request_id,
                approved_by=approved_by,
                canceled_by=self._user.id if job_status == "canceled" else None,
                parallelism=parallelism,
                executor_type=executor,
                resource_class=resource,
                contexts=contexts,
                has_details=has_details,
                credits=int(duration * parallelism / 6) if finished else 0,
            )
            self._jobs[job_id] = job
            self._jobs_by_workflow[workflow.id].append(job_id)
            if number is not None:
                self._job_numbers[(project.slug, number)] = job_id
            previous.append(job_id)
            if stopped_at is not None:
                clock = stopped_at
                last_stop = stopped_at if last_stop is None else max(last_stop, stopped_at)
            else:
                clock += rng.uniform(1, 5)
        if status in FINISHED_WORKFLOW:
            stopped = last_stop if last_stop is not None else workflow.created_at + 2.0
            self._workflows[workflow.id] = msgspec.structs.replace(
                self._workflows[workflow.id], stopped_at=stopped
            )
            self._touch(workflow.pipeline_id, stopped)

    def _take_number(self, slug: str) -> int:
        number = self._next_job_number[slug]
        self._next_job_number[slug] = number + 1
        return number

    def _plan_large_artifacts(self) -> None:
        wanted = self.config.large_artifacts
        if not wanted or not self.config.artifacts_per_job:
            return
        for project in self._projects:
            for pid in reversed(self._pipelines_by_project[project.slug]):
                for wid in self._workflows_by_pipeline[pid]:
                    for jid in self._jobs_by_workflow[wid]:
                        if not _has_artifacts(self._jobs[jid]):
                            continue
                        self._large[jid] = 1
                        wanted -= 1
                        if not wanted:
                            return

    def _artifacts_of(self, job: Job) -> tuple[Artifact, ...]:
        cached = self._artifacts.get(job.id)
        if cached is not None:
            return cached
        config = self.config
        found: list[Artifact] = []
        if _has_artifacts(job) and job.number is not None:
            rng = random.Random(f"world:{self.seed}:artifacts:{job.id}")
            templates = list(_ARTIFACT_PATHS)
            rng.shuffle(templates)
            chosen: list[str] = []
            for index in range(config.artifacts_per_job):
                path = templates[index % len(templates)].format(n=index + 1)
                if index >= len(templates):
                    path = f"run-{index // len(templates)}/{path}"
                chosen.append(path)
            if config.hostile_paths and chosen:
                chosen[-1] = _HOSTILE_PATHS[rng.randrange(len(_HOSTILE_PATHS))].format(n=job.number)
            large = self._large.get(job.id, 0)
            base = f"{self._artifact_origin}/output/job/{job.id}/artifacts"
            for node in range(job.parallelism):
                for index, path in enumerate(chosen):
                    if node == 0 and index < large:
                        size = config.large_artifact_size
                    else:
                        size = _artifact_size(rng, config)
                    digest = hashlib.blake2b(
                        f"{self.seed}:{job.id}:{node}:{path}".encode(), digest_size=8
                    ).digest()
                    found.append(
                        Artifact(
                            job_id=job.id,
                            job_number=job.number,
                            project_slug=job.project_slug,
                            node_index=node,
                            path=path,
                            size=size,
                            seed=int.from_bytes(digest, "big"),
                            url=f"{base}/{node}/{quote_artifact_path(path)}",
                        )
                    )
        result = tuple(found)
        self._artifacts[job.id] = result
        self._artifact_index[job.id] = {(a.node_index, a.path): a for a in result}
        return result

    def _generate_tests(self, job: Job) -> tuple[TestResult, ...]:
        if job.type != "build" or job.number is None or job.stopped_at is None:
            return ()
        rng = random.Random(f"world:{self.seed}:tests:{job.id}")
        count = self.config.tests_per_job
        failing = job.status in ("failed", "timedout")
        results: list[TestResult] = []
        for index in range(count):
            # Test names repeat across jobs of the same name, so a test that fails
            # in one run and passes in another shows up as flaky in insights.
            module = f"tests/test_{job.name.replace('-', '_')}.py"
            name = f"test_case_{index}"
            if failing and index == 0:
                result, message = "failure", "AssertionError: expected 200, got 503"
            elif self.config.quirks and index == count - 1 and rng.random() < 0.3:
                result, message = "skipped", "skipped: needs network"
            elif self.config.quirks and index == 1 and rng.random() < 0.08:
                result, message = "failure", "TimeoutError: flaked"
            else:
                result, message = "success", None
            results.append(
                TestResult(
                    message=message,
                    source="junit",
                    run_time=round(rng.uniform(0.001, 3.0), 3),
                    file=module,
                    result=result,
                    name=name,
                    classname=f"tests.test_{job.name.replace('-', '_')}",
                )
            )
        return tuple(results)


_REPO_NAME = re.compile(r"[A-Za-z0-9._-]+")


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _checkout_key(
    rng: random.Random,
    slug: str,
    kind: Literal["deploy-key", "github-user-key"],
    created: float,
) -> CheckoutKey:
    """An ed25519 public key and its two fingerprints, as ``ssh-keygen -l`` prints them."""
    while True:
        blob = _ssh_string(b"ssh-ed25519") + _ssh_string(rng.getrandbits(256).to_bytes(32, "big"))
        sha256 = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        # The emulator's router reads %2F as "/", so a fingerprint must not hold one.
        if "/" not in sha256:
            break
    md5 = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return CheckoutKey(
        project_slug=slug,
        type=kind,
        public_key="ssh-ed25519 " + base64.b64encode(blob).decode(),
        md5=":".join(md5[i : i + 2] for i in range(0, len(md5), 2)),
        sha256="SHA256:" + sha256,
        created_at=created,
    )


def quote_artifact_path(path: str) -> str:
    """Percent-encode an artifact path for its URL; ``unquote_artifact_path`` reverses it.

    ``/`` separates segments and every other reserved character is encoded (a
    literal ``%20`` in a name becomes ``%2520``). A leading ``/`` becomes ``%2F``,
    and dot segments become ``%252E``: URL libraries fold ``..`` away (even when
    written ``%2E%2E``), so hostile paths would not reach the server as written.
    """
    segments = []
    for segment in path.split("/"):
        if segment in (".", ".."):
            segments.append(segment.replace(".", "%252E"))
        else:
            segments.append(quote(segment, safe=""))
    encoded = "/".join(segments)
    if encoded.startswith("/"):
        encoded = "%2F" + encoded[1:]
    return encoded


def unquote_artifact_path(encoded: str) -> str:
    segments = []
    for segment in encoded.split("/"):
        decoded = unquote(segment)
        if decoded in ("%2E", "%2E%2E"):
            decoded = decoded.replace("%2E", ".")
        segments.append(decoded)
    return "/".join(segments)


def _has_artifacts(job: Job) -> bool:
    return job.type == "build" and job.number is not None and job.status in _ARTIFACT_JOB


def _artifact_size(rng: random.Random, config: WorldConfig) -> int:
    top = config.max_artifact_size
    if top <= 0:
        return 0
    if config.quirks and rng.random() < 0.08:
        return 0
    # Log-uniform: mostly small files, now and then one near the maximum.
    return min(top, int(2 ** rng.uniform(0, max(1.0, top.bit_length()))))


def _random_status(rng: random.Random, recent: bool) -> WorkflowStatus:
    roll = rng.random()
    if recent and roll < 0.3:
        return rng.choice(("running", "on_hold", "failing"))
    if roll < 0.75:
        return "success"
    if roll < 0.88:
        return "failed"
    if roll < 0.93:
        return "canceled"
    if roll < 0.96:
        return "error"
    if roll < 0.98:
        return "not_run"
    return "unauthorized"


def _job_names(
    count: int, rng: random.Random, quirks: bool, status: WorkflowStatus
) -> list[tuple[str, Literal["build", "approval"]]]:
    names: list[tuple[str, Literal["build", "approval"]]] = []
    for index in range(count):
        name = _JOB_NAMES[index % len(_JOB_NAMES)]
        if index >= len(_JOB_NAMES):
            name = f"{name}-{index // len(_JOB_NAMES)}"
        names.append((name, "build"))
    wants_hold = status == "on_hold" or (quirks and count >= 3 and rng.random() < 0.3)
    if wants_hold and count >= 2:
        names[-2] = ("hold", "approval")
    elif status == "on_hold" and count == 1:
        names[0] = ("hold", "approval")
    return names


def _job_statuses(
    status: WorkflowStatus, kinds: Sequence[str], rng: random.Random
) -> list[JobStatus]:
    """Job statuses that add up to the workflow's status, jobs run in list order."""
    count = len(kinds)
    if count == 0:
        return []
    pivot = rng.randrange(count)
    result: list[JobStatus] = []
    for index, kind in enumerate(kinds):
        job: JobStatus
        if status == "success":
            job = "success"
        elif status == "not_run":
            job = "not_run"
        elif status == "unauthorized":
            job = "unauthorized" if index == 0 else "not_run"
        elif status in ("failed", "error"):
            if index < pivot:
                job = "success"
            elif index == pivot:
                if kind == "approval":
                    job = "success"
                elif status == "error":
                    job = "infrastructure_fail"
                else:
                    job = "timedout" if rng.random() < 0.2 else "failed"
            else:
                job = "not_run"
        elif status == "failing":
            job = "success" if index < pivot else "failed" if index == pivot else "running"
            if index > pivot + 1:
                job = "blocked"
        elif status == "running":
            job = "success" if index < pivot else "running" if index == pivot else "blocked"
        elif status == "on_hold":
            hold = kinds.index("approval") if "approval" in kinds else pivot
            job = "success" if index < hold else "on_hold" if index == hold else "blocked"
        else:  # canceled
            job = "success" if index < pivot else "canceled"
        if kind == "approval" and job in ("running", "failed", "timedout", "infrastructure_fail"):
            job = "on_hold" if status in ("running", "failing", "on_hold") else "success"
        result.append(job)
    if status in ("failed", "failing") and not any(s in ("failed", "timedout") for s in result):
        # The pivot landed on an approval job; fail the first build job instead.
        for index, kind in enumerate(kinds):
            if kind == "build":
                result[index] = "failed"
                for later in range(index + 1, count):
                    if result[later] == "success":
                        result[later] = "not_run" if status == "failed" else "blocked"
                break
    return result
