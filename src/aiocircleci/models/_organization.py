"""Models of the Organization operations."""

from __future__ import annotations

from ._base import Model, StatusEnum

__all__ = [
    "Organization",
    "OrganizationVcsType",
    "URLOrbAllowListAuth",
    "URLOrbAllowListChange",
    "URLOrbAllowListEntry",
]


class OrganizationVcsType(StatusEnum):
    GITHUB = "github"
    BITBUCKET = "bitbucket"
    CIRCLECI = "circleci"
    UNKNOWN = "unknown"


class URLOrbAllowListAuth(StatusEnum):
    """How CircleCI authenticates when it fetches URL orbs under an allow-list prefix."""

    GITHUB_OAUTH = "github-oauth"
    NONE = "none"
    BITBUCKET_OAUTH = "bitbucket-oauth"
    GITHUB_APP = "github-app"
    UNKNOWN = "unknown"


class Organization(Model, frozen=True):
    """An organization: ``GET /organization/{org-slug-or-id}`` and its creation.

    ``slug`` is ``gh/name``, ``bb/name``, or ``circleci/<org-id>`` for standalone
    (GitHub App, GitLab) organizations.
    """

    id: str
    name: str | None = None
    slug: str | None = None
    vcs_type: OrganizationVcsType | None = None


class URLOrbAllowListEntry(Model, frozen=True):
    """One entry of an organization's URL orb allow-list."""

    id: str
    name: str | None = None
    prefix: str | None = None
    auth: URLOrbAllowListAuth | None = None


class URLOrbAllowListChange(Model, frozen=True):
    """What adding or removing an allow-list entry answers: the entry's id and a message."""

    id: str
    message: str | None = None
