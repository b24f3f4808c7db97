"""Deploy environments, components and versions.

Every organization has a ``production`` and a ``staging`` environment; every
project has one component, named after the project, with a handful of versions
deployed to staging first and then to production, which lags one release
behind. The live version of each (component, environment) has ``is_live``.
Deploys point at real pipelines, workflows and numbered jobs of the project
where the world has them. Nothing here is created by the API; a rollback
(``rollback.py``) changes which version is live.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .._entities import Job, Organization, Project
from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply, find, iso

__all__ = [
    "ROUTES",
    "ComponentRecord",
    "DeployStore",
    "EnvironmentRecord",
    "VersionRecord",
    "deploy_store",
]

_ENVIRONMENTS = (
    ("production", "Customer-facing production", "tier", "prod"),
    ("staging", "Pre-release checks", "tier", "staging"),
)


@dataclass(slots=True)
class EnvironmentRecord:
    id: str
    org_id: str
    name: str
    description: str
    labels: list[tuple[str, str]]
    created_at: float
    updated_at: float


@dataclass(slots=True)
class ComponentRecord:
    id: str
    org_id: str
    project_id: str
    name: str
    labels: list[tuple[str, str]]
    created_at: float
    updated_at: float


@dataclass(slots=True)
class VersionRecord:
    component_id: str
    environment_id: str
    name: str
    namespace: str
    is_live: bool
    last_deployed_at: float
    pipeline_id: str | None = None
    workflow_id: str | None = None
    job_id: str | None = None
    job_number: int | None = None


@dataclass(slots=True)
class DeployStore:
    rng: random.Random
    environments: dict[str, EnvironmentRecord] = field(default_factory=dict)
    components: dict[str, ComponentRecord] = field(default_factory=dict)
    versions: dict[str, list[VersionRecord]] = field(default_factory=dict)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def live(self, component_id: str, environment_id: str) -> VersionRecord | None:
        for version in self.versions.get(component_id, []):
            if version.environment_id == environment_id and version.is_live:
                return version
        return None


def _deploy_jobs(world: World, project: Project) -> Iterator[Job]:
    """Finished, numbered build jobs of the project, newest pipeline first."""
    for pipeline in world.pipelines(project.slug)[:30]:
        for workflow in world.workflows(pipeline.id):
            for job in world.jobs(workflow.id):
                if job.type == "build" and job.number is not None and job.status == "success":
                    yield job
                    break


def _seed(world: World) -> DeployStore:
    state = DeployStore(rng=random.Random(f"world:{world.seed}:deploy"))
    rng = state.rng
    start = world.config.start_time
    envs_of: dict[str, list[EnvironmentRecord]] = {}
    for org in world.organizations:
        for name, description, key, value in _ENVIRONMENTS:
            created = start - rng.uniform(200, 500) * 86400
            env = EnvironmentRecord(
                id=state.new_id(),
                org_id=org.id,
                name=name,
                description=description,
                labels=[(key, value)],
                created_at=created,
                updated_at=created + rng.uniform(0, 100) * 86400,
            )
            state.environments[env.id] = env
            envs_of.setdefault(org.id, []).append(env)
    for project in world.projects:
        created = start - rng.uniform(100, 200) * 86400
        component = ComponentRecord(
            id=state.new_id(),
            org_id=project.organization.id,
            project_id=project.id,
            name=project.name,
            labels=[("team", rng.choice(("platform", "payments", "growth")))],
            created_at=created,
            updated_at=created,
        )
        state.components[component.id] = component
        production, staging = envs_of[project.organization.id]
        count = rng.randint(3, 5)
        names = [f"1.{minor}.{rng.randint(0, 3)}" for minor in range(count)]
        jobs = list(_deploy_jobs(world, project))[: 2 * count]
        versions: list[VersionRecord] = []
        when = created
        for index, name in enumerate(names):
            targets = [staging] if index == count - 1 else [staging, production]
            for env in targets:
                # At most nine deploys of at most eight days: all before the start.
                when += rng.uniform(1, 8) * 86400
                job = jobs.pop() if jobs else None
                versions.append(
                    VersionRecord(
                        component_id=component.id,
                        environment_id=env.id,
                        name=name,
                        namespace="default",
                        is_live=False,
                        last_deployed_at=when,
                        pipeline_id=None if job is None else job.pipeline_id,
                        workflow_id=None if job is None else job.workflow_id,
                        job_id=None if job is None else job.id,
                        job_number=None if job is None else job.number,
                    )
                )
        for env in (staging, production):
            mine = [v for v in versions if v.environment_id == env.id]
            max(mine, key=lambda v: v.last_deployed_at).is_live = True
        state.versions[component.id] = versions
        component.updated_at = max(v.last_deployed_at for v in versions)
    return state


def deploy_store(world: World) -> DeployStore:
    """The deploy store of this world."""
    return world.state(_seed)


def _labels(labels: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in labels]


def _render_environment(env: EnvironmentRecord) -> dict[str, Any]:
    return {
        "id": env.id,
        "name": env.name,
        "description": env.description,
        "labels": _labels(env.labels),
        "created_at": iso(env.created_at),
        "updated_at": iso(env.updated_at),
    }


def _render_component(state: DeployStore, component: ComponentRecord) -> dict[str, Any]:
    return {
        "id": component.id,
        "name": component.name,
        "project_id": component.project_id,
        "labels": _labels(component.labels),
        "release_count": len({v.name for v in state.versions.get(component.id, [])}),
        "created_at": iso(component.created_at),
        "updated_at": iso(component.updated_at),
    }


def _render_version(version: VersionRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": version.name,
        "environment_id": version.environment_id,
        "namespace": version.namespace,
        "is_live": version.is_live,
        "last_deployed_at": iso(version.last_deployed_at),
    }
    links = {
        "pipeline_id": version.pipeline_id,
        "workflow_id": version.workflow_id,
        "job_id": version.job_id,
        "job_number": version.job_number,
    }
    body.update({key: value for key, value in links.items() if value is not None})
    return body


def _uuid_query(call: ApiCall, name: str) -> str | None:
    value = call.query.get(name)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ApiError(400, f"{name} must be a UUID.") from None


def _org(call: ApiCall) -> Organization:
    org_id = _uuid_query(call, "org-id")
    if org_id is None:
        raise ApiError(400, "org-id is required.")
    return find(lambda: call.world.organization(org_id), "Organization not found.")


def _page_size(call: ApiCall) -> None:
    # Required by the spec; the emulator's own page size still decides.
    value = call.query.get("page-size", "")
    if not value.isdigit() or int(value) < 1:
        raise ApiError(400, "page-size is required and must be a positive integer.")


def list_environments(call: ApiCall) -> Reply:
    """GET /deploy/environments"""
    org = _org(call)
    _page_size(call)
    items = [e for e in deploy_store(call.world).environments.values() if e.org_id == org.id]
    return Reply(call.page(items, f"deploy-environments:{org.id}", render=_render_environment))


def get_environment(call: ApiCall) -> Reply:
    """GET /deploy/environments/{environment_id}"""
    environment_id = call.uuid_param("environment_id", "environment_id")
    env = deploy_store(call.world).environments.get(environment_id)
    if env is None:
        raise ApiError(404, "Environment not found.")
    return Reply(_render_environment(env))


def list_components(call: ApiCall) -> Reply:
    """GET /deploy/components"""
    org = _org(call)
    project_id = _uuid_query(call, "project-id")
    _page_size(call)
    if project_id is not None and not any(p.id == project_id for p in call.world.projects):
        raise ApiError(404, "Project not found.")
    state = deploy_store(call.world)
    items = [
        c
        for c in state.components.values()
        if c.org_id == org.id and (project_id is None or c.project_id == project_id)
    ]
    return Reply(
        call.page(
            items,
            f"deploy-components:{org.id}:{project_id}",
            render=lambda c: _render_component(state, c),
        )
    )


def _component(call: ApiCall) -> ComponentRecord:
    found = deploy_store(call.world).components.get(call.params["component_id"])
    if found is None:
        raise ApiError(404, "Component not found.")
    return found


def get_component(call: ApiCall) -> Reply:
    """GET /deploy/components/{component_id}"""
    return Reply(_render_component(deploy_store(call.world), _component(call)))


def list_versions(call: ApiCall) -> Reply:
    """GET /deploy/components/{component_id}/versions"""
    component = _component(call)
    environment_id = _uuid_query(call, "environment-id")
    state = deploy_store(call.world)
    if environment_id is not None and environment_id not in state.environments:
        raise ApiError(404, "Environment not found.")
    versions = [
        v
        for v in state.versions.get(component.id, [])
        if environment_id is None or v.environment_id == environment_id
    ]
    versions.sort(key=lambda v: v.last_deployed_at, reverse=True)
    return Reply(
        call.page(
            versions,
            f"deploy-versions:{component.id}:{environment_id}",
            render=_render_version,
        )
    )


ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", "/deploy/environments", "listEnvironments", list_environments),
    ApiRoute("GET", "/deploy/environments/{environment_id}", "getEnvironment", get_environment),
    ApiRoute("GET", "/deploy/components", "listComponents", list_components),
    ApiRoute("GET", "/deploy/components/{component_id}", "getComponent", get_component),
    ApiRoute(
        "GET", "/deploy/components/{component_id}/versions", "listComponentVersions", list_versions
    ),
)
