"""The Deploy operations of API v2."""

from __future__ import annotations

from .._pagination import Paginator
from ..models import Component, ComponentVersion, Environment
from ._base import APIBase, seg

__all__ = ["DEFAULT_DEPLOY_PAGE_SIZE", "DeployAPI"]

# The spec makes page-size a required parameter of the environment and component
# listings without giving a default or a maximum.
DEFAULT_DEPLOY_PAGE_SIZE = 50


class DeployAPI(APIBase):
    """Deploy: environments, components and the versions deployed to them."""

    def environments(
        self, org_id: str, *, page_size: int = DEFAULT_DEPLOY_PAGE_SIZE, limit: int | None = None
    ) -> Paginator[Environment]:
        """GET /deploy/environments

        The deploy environments of an organization (by id); every page is fetched.
        """
        return self._paginate(
            "/deploy/environments",
            Environment,
            params={"org-id": org_id, "page-size": _page_size(page_size)},
            limit=limit,
        )

    async def get_environment(self, environment_id: str) -> Environment:
        """GET /deploy/environments/{environment_id}

        A deploy environment by id.
        """
        return await self._call("GET", f"/deploy/environments/{seg(environment_id)}", Environment)

    def components(
        self,
        org_id: str,
        *,
        project_id: str | None = None,
        page_size: int = DEFAULT_DEPLOY_PAGE_SIZE,
        limit: int | None = None,
    ) -> Paginator[Component]:
        """GET /deploy/components

        The components of an organization, or of one of its projects; every page is fetched.
        """
        return self._paginate(
            "/deploy/components",
            Component,
            params={
                "org-id": org_id,
                "project-id": project_id,
                "page-size": _page_size(page_size),
            },
            limit=limit,
        )

    async def get_component(self, component_id: str) -> Component:
        """GET /deploy/components/{component_id}

        A component by id.
        """
        return await self._call("GET", f"/deploy/components/{seg(component_id)}", Component)

    def component_versions(
        self, component_id: str, *, environment_id: str | None = None, limit: int | None = None
    ) -> Paginator[ComponentVersion]:
        """GET /deploy/components/{component_id}/versions

        The versions of a component, newest deploy first, optionally in one environment.
        The spec declares no ``page-token`` here but answers ``next_page_token``; every
        page is fetched.
        """
        return self._paginate(
            f"/deploy/components/{seg(component_id)}/versions",
            ComponentVersion,
            params={"environment-id": environment_id},
            limit=limit,
        )


def _page_size(size: int) -> int:
    if size < 1:
        raise ValueError("page_size must be at least 1")
    return size
