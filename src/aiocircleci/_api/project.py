"""The Project operations of API v2."""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from .._pagination import Paginator
from .._slug import ProjectSlug
from ..models import (
    AdvancedSettings,
    CheckoutKey,
    Message,
    Project,
    ProjectEnvVar,
    ProjectSettings,
)
from ._base import APIBase, seg, slug_path

__all__ = ["ProjectAPI", "org_path"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")


def org_path(org: str, *, allow_id: bool = True) -> str:
    """An organization for a path: its id, or its slug ``vcs/name`` with each segment encoded.

    Raises ``ValueError`` before any request if it is neither.
    """
    value = org.strip().strip("/")
    if allow_id and _UUID.fullmatch(value):
        return value
    parts = value.split("/")
    if len(parts) != 2 or not all(parts):
        expected = "an organization id or " if allow_id else ""
        raise ValueError(
            f"invalid organization {org!r}: expected {expected}VCS/ORG, such as gh/my-org"
        )
    return "/".join(seg(part) for part in parts)


class _NewProject(msgspec.Struct, frozen=True):
    name: str


class _NewEnvVar(msgspec.Struct, frozen=True):
    name: str
    value: str


class _NewCheckoutKey(msgspec.Struct, frozen=True):
    type: Literal["user-key", "deploy-key"]


class ProjectAPI(APIBase):
    """Project: projects, their settings, checkout keys and environment variables."""

    async def get_project(self, slug: str | ProjectSlug) -> Project:
        """GET /project/{project-slug}

        A project by slug.
        """
        return await self._call("GET", f"/project/{slug_path(slug)}", Project)

    async def create_project(self, org: str, name: str) -> Project:
        """POST /organization/{org-slug-or-id}/project

        Create a project in an organization given by id or slug (``gh/my-org``).
        """
        return await self._call(
            "POST", f"/organization/{org_path(org)}/project", Project, json=_NewProject(name)
        )

    async def delete_project(self, slug: str | ProjectSlug) -> Message:
        """DELETE /project/{project-slug}

        Delete a project, with its pipelines, settings, keys and variables.
        """
        return await self._call("DELETE", f"/project/{slug_path(slug)}", Message)

    def checkout_keys(
        self,
        slug: str | ProjectSlug,
        *,
        digest: Literal["md5", "sha256"] | None = None,
        limit: int | None = None,
    ) -> Paginator[CheckoutKey]:
        """GET /project/{project-slug}/checkout-key

        A project's checkout keys; ``digest`` picks the fingerprint form (MD5 by default).
        """
        return self._paginate(
            f"/project/{slug_path(slug)}/checkout-key",
            CheckoutKey,
            params={"digest": digest},
            limit=limit,
        )

    async def create_checkout_key(
        self, slug: str | ProjectSlug, key_type: Literal["deploy-key", "user-key"]
    ) -> CheckoutKey:
        """POST /project/{project-slug}/checkout-key

        Create a deploy key, or a user key (GitHub; needs a user's token). Not for GitHub App
        or GitLab projects.
        """
        return await self._call(
            "POST",
            f"/project/{slug_path(slug)}/checkout-key",
            CheckoutKey,
            json=_NewCheckoutKey(key_type),
        )

    async def get_checkout_key(self, slug: str | ProjectSlug, fingerprint: str) -> CheckoutKey:
        """GET /project/{project-slug}/checkout-key/{fingerprint}

        A checkout key by its MD5 or SHA256 fingerprint.
        """
        return await self._call(
            "GET", f"/project/{slug_path(slug)}/checkout-key/{seg(fingerprint)}", CheckoutKey
        )

    async def delete_checkout_key(self, slug: str | ProjectSlug, fingerprint: str) -> Message:
        """DELETE /project/{project-slug}/checkout-key/{fingerprint}

        Delete a checkout key by its MD5 or SHA256 fingerprint.
        """
        return await self._call(
            "DELETE", f"/project/{slug_path(slug)}/checkout-key/{seg(fingerprint)}", Message
        )

    def env_vars(
        self, slug: str | ProjectSlug, *, limit: int | None = None
    ) -> Paginator[ProjectEnvVar]:
        """GET /project/{project-slug}/envvar

        A project's environment variables, values masked.
        """
        return self._paginate(f"/project/{slug_path(slug)}/envvar", ProjectEnvVar, limit=limit)

    async def create_env_var(self, slug: str | ProjectSlug, name: str, value: str) -> ProjectEnvVar:
        """POST /project/{project-slug}/envvar

        Create (or replace) a project environment variable; the answer masks the value.
        """
        return await self._call(
            "POST",
            f"/project/{slug_path(slug)}/envvar",
            ProjectEnvVar,
            json=_NewEnvVar(name, value),
        )

    async def get_env_var(self, slug: str | ProjectSlug, name: str) -> ProjectEnvVar:
        """GET /project/{project-slug}/envvar/{name}

        A project environment variable, value masked.
        """
        return await self._call(
            "GET", f"/project/{slug_path(slug)}/envvar/{seg(name)}", ProjectEnvVar
        )

    async def delete_env_var(self, slug: str | ProjectSlug, name: str) -> Message:
        """DELETE /project/{project-slug}/envvar/{name}

        Delete a project environment variable.
        """
        return await self._call("DELETE", f"/project/{slug_path(slug)}/envvar/{seg(name)}", Message)

    async def get_project_settings(self, slug: str | ProjectSlug) -> ProjectSettings:
        """GET /project/{provider}/{organization}/{project}/settings

        A project's advanced settings (``slug`` as ``provider/organization/project``).
        """
        return await self._call("GET", f"/project/{slug_path(slug)}/settings", ProjectSettings)

    async def update_project_settings(
        self, slug: str | ProjectSlug, settings: ProjectSettings | AdvancedSettings
    ) -> ProjectSettings:
        """PATCH /project/{provider}/{organization}/{project}/settings

        Change the advanced settings that are not ``None``; answers all of them.
        """
        if isinstance(settings, AdvancedSettings):
            settings = ProjectSettings(advanced=settings)
        return await self._call(
            "PATCH", f"/project/{slug_path(slug)}/settings", ProjectSettings, json=settings
        )
