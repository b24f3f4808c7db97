from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = [
    "AdvancedSettings",
    "CheckoutKey",
    "CheckoutKeyType",
    "Project",
    "ProjectEnvVar",
    "ProjectSettings",
    "VcsInfo",
    "VcsProvider",
]


class VcsProvider(StatusEnum):
    BITBUCKET = "Bitbucket"
    CIRCLECI = "CircleCI"
    GITHUB = "GitHub"
    UNKNOWN = "unknown"


class VcsInfo(Model, frozen=True):
    vcs_url: str | None = None
    provider: VcsProvider | None = None
    default_branch: str | None = None


class Project(Model, frozen=True):
    """A project: ``GET /project/{project-slug}`` and what creating one answers."""

    slug: str
    name: str | None = None
    id: str | None = None
    organization_name: str | None = None
    organization_slug: str | None = None
    organization_id: str | None = None
    vcs_info: VcsInfo | None = None


class ProjectEnvVar(Model, frozen=True, rename={"created_at": "created-at"}):
    """A project's environment variable; ``value`` is masked (``xxxx`` and its last four)."""

    name: str
    value: str | None = None
    created_at: datetime | None = None


class CheckoutKeyType(StatusEnum):
    DEPLOY_KEY = "deploy-key"
    GITHUB_USER_KEY = "github-user-key"
    UNKNOWN = "unknown"


class CheckoutKey(
    Model, frozen=True, rename={"public_key": "public-key", "created_at": "created-at"}
):
    """An SSH key a project's code is checked out with.

    ``fingerprint`` is MD5 (``aa:bb:...``) unless the listing asked for SHA256
    (``SHA256:...``); either form names the key in a path. ``preferred`` marks
    the key checkouts use.
    """

    fingerprint: str
    public_key: str | None = None
    type: CheckoutKeyType | None = None
    preferred: bool | None = None
    created_at: datetime | None = None


class AdvancedSettings(Model, frozen=True):
    """A project's advanced settings; ``None`` is "not sent" in an update."""

    autocancel_builds: bool | None = None
    build_fork_prs: bool | None = None
    build_prs_only: bool | None = None
    disable_ssh: bool | None = None
    forks_receive_secret_env_vars: bool | None = None
    oss: bool | None = None
    set_github_status: bool | None = None
    setup_workflows: bool | None = None
    write_settings_requires_admin: bool | None = None
    pr_only_branch_overrides: list[str] | None = None


class ProjectSettings(Model, frozen=True):
    """``GET``/``PATCH /project/{provider}/{organization}/{project}/settings``."""

    advanced: AdvancedSettings | None = None
