"""The frozen values a generated world is made of.

Times are seconds since the epoch (floats); ``isoformat`` renders them the way
CircleCI does. Artifacts know their size, ETag and SHA-256 and can produce their
bytes, so a test can check a download without going through the server.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterator
from typing import Any, Literal

import msgspec

from ._content import content_etag, content_sha256, iter_content, read_content

__all__ = [
    "Artifact",
    "CheckoutKey",
    "Context",
    "ContextEnvVar",
    "ContextRestriction",
    "Job",
    "Organization",
    "Pipeline",
    "PipelineError",
    "Project",
    "ProjectEnvVar",
    "ProjectSettings",
    "TestResult",
    "User",
    "Workflow",
    "isoformat",
]

PipelineState = Literal["created", "errored", "setup-pending", "setup", "pending"]
WorkflowStatus = Literal[
    "success",
    "running",
    "not_run",
    "failed",
    "error",
    "failing",
    "on_hold",
    "canceled",
    "unauthorized",
]
JobStatus = Literal[
    "success",
    "running",
    "not_run",
    "failed",
    "retried",
    "queued",
    "not_running",
    "infrastructure_fail",
    "timedout",
    "on_hold",
    "terminated-unknown",
    "blocked",
    "canceled",
    "unauthorized",
]


def isoformat(timestamp: float) -> str:
    """``2025-06-01T12:00:00.000Z``: UTC with milliseconds, as CircleCI writes times."""
    moment = _dt.datetime.fromtimestamp(timestamp, _dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class User(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    login: str
    name: str
    avatar_url: str | None


class Organization(msgspec.Struct, frozen=True, kw_only=True):
    """An organization; ``slug`` is ``gh/name``, ``bb/name`` or ``circleci/<org-id>``."""

    id: str
    slug: str
    name: str
    vcs_type: str
    avatar_url: str


class Project(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    slug: str
    name: str
    organization: Organization
    vcs_url: str
    provider: str
    default_branch: str
    private: bool


class PipelineError(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    message: str


class Pipeline(msgspec.Struct, frozen=True, kw_only=True):
    """A pipeline. Exactly one of ``branch`` and ``tag`` is set."""

    id: str
    project_slug: str
    number: int
    state: PipelineState
    created_at: float
    updated_at: float
    errors: tuple[PipelineError, ...]
    trigger_type: str
    trigger_received_at: float
    actor_login: str
    actor_avatar_url: str | None
    branch: str | None
    tag: str | None
    revision: str
    commit_subject: str | None
    commit_body: str | None
    review_id: str | None = None
    review_url: str | None = None
    trigger_parameters: dict[str, Any] | None = None
    continuation_key: str | None = None
    config_source: str = ""
    setup_config: str | None = None


class Workflow(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    pipeline_id: str
    pipeline_number: int
    project_slug: str
    name: str
    status: WorkflowStatus
    created_at: float
    stopped_at: float | None
    started_by: str
    canceled_by: str | None = None
    errored_by: str | None = None
    tag: str | None = None
    auto_rerun_number: int | None = None
    max_auto_reruns: int | None = None


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A job of a workflow: a ``build`` job or an ``approval`` job.

    ``number`` is ``None`` for approval jobs and jobs that never started.
    ``has_details`` is false for the approval jobs that carry a number yet answer
    404 on ``GET /project/{slug}/job/{number}``, as the real service does.
    """

    id: str
    workflow_id: str
    pipeline_id: str
    project_slug: str
    name: str
    type: Literal["build", "approval"]
    status: JobStatus
    number: int | None
    created_at: float
    queued_at: float
    started_at: float | None
    stopped_at: float | None
    dependencies: tuple[str, ...] = ()
    approval_request_id: str | None = None
    approved_by: str | None = None
    canceled_by: str | None = None
    parallelism: int = 1
    executor_type: str = "docker"
    resource_class: str = "medium"
    contexts: tuple[str, ...] = ()
    has_details: bool = True
    credits: int = 0


class Artifact(msgspec.Struct, frozen=True, kw_only=True):
    """One artifact of one node of a job; its bytes follow from ``seed`` and ``size``."""

    job_id: str
    job_number: int
    project_slug: str
    node_index: int
    path: str
    size: int
    seed: int
    url: str

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content (computed on first use, then cached)."""
        return content_sha256(self.seed, self.size)

    @property
    def etag(self) -> str:
        return content_etag(self.seed, self.size)

    def iter_bytes(self, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream the bytes ``[start, end)`` in large chunks."""
        return iter_content(self.seed, self.size, start, end)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        """The bytes ``[start, end)`` in one piece; mind the size of large artifacts."""
        return read_content(self.seed, self.size, start, end)


class TestResult(msgspec.Struct, frozen=True, kw_only=True):
    __test__ = False  # not a pytest test class, whatever its name says

    message: str | None
    source: str
    run_time: float
    file: str
    result: str
    name: str
    classname: str


class Context(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    created_at: float
    owner_id: str


class ContextEnvVar(msgspec.Struct, frozen=True, kw_only=True):
    context_id: str
    variable: str
    value: str
    created_at: float
    updated_at: float


class ProjectEnvVar(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    value: str
    created_at: float

    @property
    def masked_value(self) -> str:
        """How the API shows the value: ``xxxx`` and its last four characters."""
        return "xxxx" + self.value[-4:]


class CheckoutKey(msgspec.Struct, frozen=True, kw_only=True):
    """An SSH key CircleCI checks a project out with; ``md5`` and ``sha256`` are its fingerprints.

    ``preferred`` marks the one key checkouts use: the newest user key, else the
    newest deploy key.
    """

    project_slug: str
    type: Literal["deploy-key", "github-user-key"]
    public_key: str
    md5: str
    sha256: str
    created_at: float
    preferred: bool = False


class ProjectSettings(msgspec.Struct, frozen=True, kw_only=True):
    """A project's advanced settings, as ``GET .../settings`` shows them under ``advanced``."""

    autocancel_builds: bool = False
    build_fork_prs: bool = False
    build_prs_only: bool = False
    disable_ssh: bool = False
    forks_receive_secret_env_vars: bool = False
    oss: bool = False
    set_github_status: bool = True
    setup_workflows: bool = False
    write_settings_requires_admin: bool = False
    pr_only_branch_overrides: tuple[str, ...] = ()


class ContextRestriction(msgspec.Struct, frozen=True, kw_only=True):
    """Who may use a context: a project (by id), an expression, or a group (by id)."""

    id: str
    context_id: str
    type: Literal["project", "expression", "group"]
    value: str
    name: str | None = None
    project_id: str | None = None
