from __future__ import annotations

from ._base import Model, StatusEnum

__all__ = ["Project", "VcsInfo", "VcsProvider"]


class VcsProvider(StatusEnum):
    BITBUCKET = "Bitbucket"
    CIRCLECI = "CircleCI"
    GITHUB = "GitHub"
    UNKNOWN = "unknown"


class VcsInfo(Model, frozen=True):
    vcs_url: str
    provider: VcsProvider
    default_branch: str


class Project(Model, frozen=True):
    """``GET /project/{project-slug}``."""

    slug: str
    name: str
    id: str
    organization_name: str
    organization_slug: str
    organization_id: str
    vcs_info: VcsInfo
