"""Pipeline definitions of a project, and the store their triggers share.

Every project starts with one definition, ``build-and-test``, reading
``.circleci/config.yml`` from the project's own repository. Repositories are
known by ``external_id``; a definition may only name a repository the world
knows (any project's), as the real service only accepts repositories its VCS
integration can see. Deleting a definition deletes its triggers.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from .._entities import Project
from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply, iso

__all__ = [
    "REPO_PROVIDERS",
    "Definition",
    "DefinitionStore",
    "Repo",
    "TriggerRecord",
    "definition_of",
    "project_by_id",
    "render_repo",
    "repo_of",
    "store",
]

# Providers whose event source or config source is a repository.
REPO_PROVIDERS = frozenset({"github_app", "github_server", "github_oauth", "bitbucket_dc"})
_PROVIDER_OF_PROJECT = {
    "GitHub": "github_oauth",
    "Bitbucket": "bitbucket_oauth",
    "CircleCI": "github_app",
}


@dataclass(frozen=True, slots=True)
class Repo:
    full_name: str
    external_id: str


@dataclass(slots=True)
class Definition:
    id: str
    project_id: str
    name: str
    description: str | None
    created_at: float
    config_provider: str
    config_repo: Repo | None
    config_file_path: str
    checkout_provider: str
    checkout_repo: Repo


@dataclass(slots=True)
class TriggerRecord:
    id: str
    project_id: str
    definition_id: str
    created_at: float
    provider: str
    repo: Repo | None = None
    webhook_url: str | None = None
    webhook_sender: str | None = None
    cron_expression: str | None = None
    attribution_actor: str | None = None
    event_preset: str | None = None
    checkout_ref: str | None = None
    config_ref: str | None = None
    event_name: str | None = None
    disabled: bool = False
    parameters: dict[str, Any] | None = None


@dataclass(slots=True)
class DefinitionStore:
    """Definitions and triggers by id (insertion order is listing order), repos by id."""

    rng: random.Random
    definitions: dict[str, Definition] = field(default_factory=dict)
    triggers: dict[str, TriggerRecord] = field(default_factory=dict)
    repos: dict[str, Repo] = field(default_factory=dict)
    repo_of_project: dict[str, Repo] = field(default_factory=dict)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def delete_definition(self, definition_id: str) -> None:
        del self.definitions[definition_id]
        for trigger_id in [
            t.id for t in self.triggers.values() if t.definition_id == definition_id
        ]:
            del self.triggers[trigger_id]


def _seed(world: World) -> DefinitionStore:
    state = DefinitionStore(rng=random.Random(f"world:{world.seed}:pipeline-definitions"))
    start = world.config.start_time
    for project in world.projects:
        path = urlsplit(project.vcs_url).path.strip("/")
        repo = Repo(full_name=path, external_id=str(state.rng.randrange(10**8, 10**9)))
        state.repos[repo.external_id] = repo
        state.repo_of_project[project.id] = repo
    for index, project in enumerate(world.projects):
        repo = state.repo_of_project[project.id]
        provider = _PROVIDER_OF_PROJECT.get(project.provider, "github_app")
        created = start - state.rng.uniform(100, 400) * 86400
        definition = Definition(
            id=state.new_id(),
            project_id=project.id,
            name="build-and-test",
            description=f"The main pipeline of {project.name}",
            created_at=created,
            config_provider=provider,
            config_repo=repo,
            config_file_path=".circleci/config.yml",
            checkout_provider=provider,
            checkout_repo=repo,
        )
        state.definitions[definition.id] = definition
        pushes = TriggerRecord(
            id=state.new_id(),
            project_id=project.id,
            definition_id=definition.id,
            created_at=created + 60,
            provider=provider,
            repo=repo,
            event_preset="all-pushes",
        )
        state.triggers[pushes.id] = pushes
        if index == 0:
            nightly = TriggerRecord(
                id=state.new_id(),
                project_id=project.id,
                definition_id=definition.id,
                created_at=created + 3600,
                provider="schedule",
                cron_expression="0 3 * * *",
                attribution_actor="system",
                event_name="nightly",
                checkout_ref=project.default_branch,
                config_ref=project.default_branch,
                parameters={"nightly": True},
            )
            state.triggers[nightly.id] = nightly
    return state


def store(world: World) -> DefinitionStore:
    """The pipeline definition and trigger store of this world."""
    return world.state(_seed)


def project_by_id(call: ApiCall, name: str = "project_id") -> Project:
    project_id = call.params[name]
    for project in call.world.projects:
        if project.id == project_id:
            return project
    raise ApiError(404, "Project not found.")


def definition_of(call: ApiCall) -> Definition:
    project = project_by_id(call)
    found = store(call.world).definitions.get(call.params["pipeline_definition_id"])
    if found is None or found.project_id != project.id:
        raise ApiError(404, "Pipeline definition not found.")
    return found


def repo_of(call: ApiCall, external_id: str) -> Repo:
    found = store(call.world).repos.get(external_id)
    if found is None:
        raise ApiError(400, f"Repository with external_id {external_id!r} not found.")
    return found


def render_repo(repo: Repo) -> dict[str, str]:
    return {"full_name": repo.full_name, "external_id": repo.external_id}


def _render(definition: Definition) -> dict[str, Any]:
    config: dict[str, Any] = {
        "provider": definition.config_provider,
        "file_path": definition.config_file_path,
    }
    if definition.config_repo is not None:
        config["repo"] = render_repo(definition.config_repo)
    body: dict[str, Any] = {
        "id": definition.id,
        "name": definition.name,
        "created_at": iso(definition.created_at),
        "config_source": config,
        "checkout_source": {
            "provider": definition.checkout_provider,
            "repo": render_repo(definition.checkout_repo),
        },
    }
    if definition.description is not None:
        body["description"] = definition.description
    return body


class _RepoRef(msgspec.Struct, forbid_unknown_fields=True):
    external_id: str


class _NewConfigSource(msgspec.Struct, forbid_unknown_fields=True):
    provider: Literal["github_app", "github_server", "circleci"]
    file_path: str
    repo: _RepoRef | None = None


class _CheckoutSource(msgspec.Struct, forbid_unknown_fields=True):
    provider: Literal["github_app", "github_server"]
    repo: _RepoRef


class _NewDefinition(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    config_source: _NewConfigSource
    checkout_source: _CheckoutSource
    description: str | None = None


class _ConfigUpdate(msgspec.Struct, forbid_unknown_fields=True):
    file_path: str | None = None


class _CheckoutUpdate(msgspec.Struct, forbid_unknown_fields=True):
    provider: Literal["github_app", "github_server"] | None = None
    repo: _RepoRef | None = None


class _DefinitionUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | None = None
    description: str | None = None
    config_source: _ConfigUpdate | None = None
    checkout_source: _CheckoutUpdate | None = None


def _checked_name(call: ApiCall, project: Project, name: str, *, but: str | None = None) -> str:
    name = name.strip()
    if not name:
        raise ApiError(400, "name must not be empty.")
    for other in store(call.world).definitions.values():
        if other.project_id == project.id and other.name == name and other.id != but:
            raise ApiError(400, f"A pipeline definition named {name!r} already exists.")
    return name


def _checked_path(path: str) -> str:
    if not path.strip():
        raise ApiError(400, "config_source.file_path must not be empty.")
    return path


def list_definitions(call: ApiCall) -> Reply:
    """GET /projects/{project_id}/pipeline-definitions"""
    project = project_by_id(call)
    items = [
        _render(d) for d in store(call.world).definitions.values() if d.project_id == project.id
    ]
    return Reply({"items": items})


def create_definition(call: ApiCall) -> Reply:
    """POST /projects/{project_id}/pipeline-definitions"""
    project = project_by_id(call)
    body = call.json(_NewDefinition)
    config = body.config_source
    if (config.provider == "circleci") != (config.repo is None):
        raise ApiError(
            400, "config_source.repo is required for github_app and github_server, not circleci."
        )
    state = store(call.world)
    definition = Definition(
        id=state.new_id(),
        project_id=project.id,
        name=_checked_name(call, project, body.name),
        description=body.description,
        created_at=call.now,
        config_provider=config.provider,
        config_repo=None if config.repo is None else repo_of(call, config.repo.external_id),
        config_file_path=_checked_path(config.file_path),
        checkout_provider=body.checkout_source.provider,
        checkout_repo=repo_of(call, body.checkout_source.repo.external_id),
    )
    state.definitions[definition.id] = definition
    return Reply(_render(definition))


def get_definition(call: ApiCall) -> Reply:
    """GET /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}"""
    return Reply(_render(definition_of(call)))


def update_definition(call: ApiCall) -> Reply:
    """PATCH /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}"""
    definition = definition_of(call)
    project = project_by_id(call)
    body = call.json(_DefinitionUpdate)
    # Check everything before changing anything.
    name = definition.name
    if body.name is not None:
        name = _checked_name(call, project, body.name, but=definition.id)
    file_path = definition.config_file_path
    if body.config_source is not None and body.config_source.file_path is not None:
        file_path = _checked_path(body.config_source.file_path)
    checkout_provider, checkout_repo = definition.checkout_provider, definition.checkout_repo
    if body.checkout_source is not None:
        if body.checkout_source.provider is not None:
            checkout_provider = body.checkout_source.provider
        if body.checkout_source.repo is not None:
            checkout_repo = repo_of(call, body.checkout_source.repo.external_id)
    definition.name = name
    if body.description is not None:
        definition.description = body.description
    definition.config_file_path = file_path
    definition.checkout_provider = checkout_provider
    definition.checkout_repo = checkout_repo
    return Reply(_render(definition))


def delete_definition(call: ApiCall) -> Reply:
    """DELETE /projects/{project_id}/pipeline-definitions/{pipeline_definition_id}"""
    definition = definition_of(call)
    store(call.world).delete_definition(definition.id)
    return Reply({"message": "Pipeline definition deleted successfully."})


_ONE = "/projects/{project_id}/pipeline-definitions/{pipeline_definition_id}"

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute(
        "GET",
        "/projects/{project_id}/pipeline-definitions",
        "listPipelineDefinitions",
        list_definitions,
    ),
    ApiRoute(
        "POST",
        "/projects/{project_id}/pipeline-definitions",
        "createPipelineDefinition",
        create_definition,
    ),
    ApiRoute("GET", _ONE, "getPipelineDefinition", get_definition),
    ApiRoute("PATCH", _ONE, "updatePipelineDefinition", update_definition),
    ApiRoute("DELETE", _ONE, "deletePipelineDefinition", delete_definition),
)
