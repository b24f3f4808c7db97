"""Projects: create and delete, environment variables, checkout keys, advanced settings."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .._entities import CheckoutKey, Project, ProjectEnvVar, ProjectSettings
from .._world import WorldError
from ._core import ApiCall, ApiError, ApiRoute, Reply, find, iso

__all__ = ["ROUTES", "project_by_parts", "project_of", "render_project"]

_PROVIDERS = frozenset({"github", "gh", "bitbucket", "bb", "circleci"})


def project_of(call: ApiCall) -> Project:
    return find(lambda: call.world.project(call.params["project-slug"]), "Project not found")


def project_by_parts(call: ApiCall) -> Project:
    """The project of the ``{provider}/{organization}/{project}`` routes."""
    provider = call.params["provider"]
    if provider.lower() not in _PROVIDERS:
        raise ApiError(404, "Project not found.")
    slug = f"{provider}/{call.params['organization']}/{call.params['project']}"
    return find(lambda: call.world.project(slug), "Project not found.")


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


def _render_key(key: CheckoutKey, digest: str = "md5") -> dict[str, Any]:
    return {
        "public-key": key.public_key,
        "type": key.type,
        "fingerprint": key.sha256 if digest == "sha256" else key.md5,
        "preferred": key.preferred,
        "created-at": iso(key.created_at),
    }


def _render_settings(settings: ProjectSettings) -> dict[str, Any]:
    advanced = msgspec.structs.asdict(settings)
    advanced["pr_only_branch_overrides"] = list(settings.pr_only_branch_overrides)
    return {"advanced": advanced}


def get_project(call: ApiCall) -> Reply:
    """GET /project/{project-slug}"""
    return Reply(render_project(project_of(call)))


class _NewProject(msgspec.Struct):
    name: str


def create_project(call: ApiCall) -> Reply:
    """POST /organization/{org-slug-or-id}/project"""
    key = call.params["org-slug-or-id"]
    find(lambda: call.world.organization(key), "Organization not found.")
    body = call.json(_NewProject)
    try:
        project = call.world.create_project(key, body.name, now=call.now)
    except WorldError as exc:
        raise ApiError.from_world(exc) from None
    return Reply(render_project(project))


def delete_project(call: ApiCall) -> Reply:
    """DELETE /project/{project-slug}"""
    call.world.delete_project(project_of(call).slug)
    return Reply({"message": "Project deleted."})


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


def list_checkout_keys(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/checkout-key"""
    project = project_of(call)
    digest = call.query.get("digest", "md5")
    if digest not in ("md5", "sha256"):
        raise ApiError(400, "digest must be md5 or sha256.")
    return Reply(
        call.page(
            call.world.checkout_keys(project.slug),
            f"checkout-keys:{project.slug}",
            render=lambda key: _render_key(key, digest),
        )
    )


class _NewCheckoutKey(msgspec.Struct):
    type: Literal["user-key", "deploy-key"]


def create_checkout_key(call: ApiCall) -> Reply:
    """POST /project/{project-slug}/checkout-key"""
    project = project_of(call)
    body = call.json(_NewCheckoutKey)
    try:
        key = call.world.create_checkout_key(project.slug, body.type, now=call.now)
    except WorldError as exc:
        raise ApiError.from_world(exc) from None
    return Reply(_render_key(key), 201)


def _key_of(call: ApiCall) -> CheckoutKey:
    project = project_of(call)
    return find(
        lambda: call.world.checkout_key(project.slug, call.params["fingerprint"]),
        "Checkout key not found.",
    )


def get_checkout_key(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/checkout-key/{fingerprint}"""
    key = _key_of(call)
    digest = "sha256" if call.params["fingerprint"] == key.sha256 else "md5"
    return Reply(_render_key(key, digest))


def delete_checkout_key(call: ApiCall) -> Reply:
    """DELETE /project/{project-slug}/checkout-key/{fingerprint}"""
    key = _key_of(call)
    call.world.delete_checkout_key(key.project_slug, key.md5)
    return Reply({"message": "Checkout key deleted."})


def get_settings(call: ApiCall) -> Reply:
    """GET /project/{provider}/{organization}/{project}/settings"""
    project = project_by_parts(call)
    return Reply(_render_settings(call.world.project_settings(project.slug)))


class _Advanced(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
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


class _SettingsPatch(msgspec.Struct, forbid_unknown_fields=True):
    advanced: _Advanced | None = None


def patch_settings(call: ApiCall) -> Reply:
    """PATCH /project/{provider}/{organization}/{project}/settings"""
    project = project_by_parts(call)
    body = call.json(_SettingsPatch)
    changes = msgspec.structs.asdict(body.advanced) if body.advanced is not None else {}
    changes = {name: value for name, value in changes.items() if value is not None}
    settings = call.world.update_project_settings(project.slug, changes)
    return Reply(_render_settings(settings))


ROUTES = (
    ApiRoute("POST", "/organization/{org-slug-or-id}/project", "createProject", create_project),
    ApiRoute("GET", "/project/{project-slug}", "getProjectBySlug", get_project),
    ApiRoute("DELETE", "/project/{project-slug}", "deleteProjectBySlug", delete_project),
    ApiRoute("GET", "/project/{project-slug}/envvar", "listEnvVars", list_env_vars),
    ApiRoute("POST", "/project/{project-slug}/envvar", "createEnvVar", create_env_var),
    ApiRoute("GET", "/project/{project-slug}/envvar/{name}", "getEnvVar", get_env_var),
    ApiRoute("DELETE", "/project/{project-slug}/envvar/{name}", "deleteEnvVar", delete_env_var),
    ApiRoute("GET", "/project/{project-slug}/checkout-key", "listCheckoutKeys", list_checkout_keys),
    ApiRoute(
        "POST", "/project/{project-slug}/checkout-key", "createCheckoutKey", create_checkout_key
    ),
    ApiRoute(
        "GET",
        "/project/{project-slug}/checkout-key/{fingerprint}",
        "getCheckoutKey",
        get_checkout_key,
    ),
    ApiRoute(
        "DELETE",
        "/project/{project-slug}/checkout-key/{fingerprint}",
        "deleteCheckoutKey",
        delete_checkout_key,
    ),
    ApiRoute(
        "GET",
        "/project/{provider}/{organization}/{project}/settings",
        "getProjectSettings",
        get_settings,
    ),
    ApiRoute(
        "PATCH",
        "/project/{provider}/{organization}/{project}/settings",
        "patchProjectSettings",
        patch_settings,
    ),
)
