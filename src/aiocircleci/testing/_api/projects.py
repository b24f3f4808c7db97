"""Projects and their environment variables."""

from __future__ import annotations

from typing import Any

import msgspec

from .._entities import Project, ProjectEnvVar
from ._core import ApiCall, ApiError, ApiRoute, Reply, find

__all__ = ["ROUTES", "project_of", "render_project"]


def project_of(call: ApiCall) -> Project:
    return find(lambda: call.world.project(call.params["project-slug"]), "Project not found")


def render_project(project: Project) -> dict[str, Any]:
    return {
        "slug": project.slug,
        "name": project.name,
        "id": project.id,
        "organization_name": project.organization.name,
        "organization_slug": project.organization.slug,
        "organization_id": project.organization.id,
        "vcs_info": {
            "vcs_url": project.vcs_url,
            "provider": project.provider,
            "default_branch": project.default_branch,
        },
    }


def _render_env(env: ProjectEnvVar) -> dict[str, Any]:
    return {"name": env.name, "value": env.masked_value}


def get_project(call: ApiCall) -> Reply:
    """GET /project/{project-slug}"""
    return Reply(render_project(project_of(call)))


def list_env_vars(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/envvar"""
    project = project_of(call)
    items = [_render_env(e) for e in call.world.env_vars(project.slug)]
    return Reply(call.page(items, f"envvar:{project.slug}"))


class _NewEnvVar(msgspec.Struct):
    name: str
    value: str


def create_env_var(call: ApiCall) -> Reply:
    """POST /project/{project-slug}/envvar"""
    project = project_of(call)
    body = call.json(_NewEnvVar)
    if not body.name:
        raise ApiError(400, "name must not be empty.")
    env = call.world.create_env_var(project.slug, body.name, body.value, now=call.now)
    return Reply(_render_env(env), 201)


def get_env_var(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/envvar/{name}"""
    project = project_of(call)
    env = find(
        lambda: call.world.env_var(project.slug, call.params["name"]),
        "Environment variable not found.",
    )
    return Reply(_render_env(env))


def delete_env_var(call: ApiCall) -> Reply:
    """DELETE /project/{project-slug}/envvar/{name}"""
    project = project_of(call)
    find(
        lambda: call.world.delete_env_var(project.slug, call.params["name"]),
        "Environment variable not found.",
    )
    return Reply({"message": "Environment variable deleted."})


ROUTES = (
    ApiRoute("GET", "/project/{project-slug}", "getProjectBySlug", get_project),
    ApiRoute("GET", "/project/{project-slug}/envvar", "listEnvVars", list_env_vars),
    ApiRoute("POST", "/project/{project-slug}/envvar", "createEnvVar", create_env_var),
    ApiRoute("GET", "/project/{project-slug}/envvar/{name}", "getEnvVar", get_env_var),
    ApiRoute("DELETE", "/project/{project-slug}/envvar/{name}", "deleteEnvVar", delete_env_var),
)
