from __future__ import annotations

from .._slug import ProjectSlug
from ..models import Project
from ._base import APIBase, slug_path

__all__ = ["ProjectAPI"]


class ProjectAPI(APIBase):
    """Project: projects, their settings, checkout keys and environment variables."""

    async def get_project(self, slug: str | ProjectSlug) -> Project:
        """GET /project/{project-slug}

        A project by slug.
        """
        return await self._call("GET", f"/project/{slug_path(slug)}", Project)
