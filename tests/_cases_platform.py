"""Conformance cases of pipeline definitions, triggers, rollbacks, deploys, OIDC claims
and policies."""

from __future__ import annotations

from typing import Any

from aiocircleci.testing import FakeCircleCI
from aiocircleci.testing._api.deploy import deploy_store
from aiocircleci.testing._api.pipeline_definitions import store
from aiocircleci.testing._api.policy import SEED_POLICY, policy_store

from ._conformance import NO_SUCH, Call, Case, org

__all__ = ["ERRORS", "SUCCESS"]

NEW_DEFINITION = "conformance-definition"


def project_id(fake: FakeCircleCI) -> str:
    return fake.world.projects[0].id


def definition_path(fake: FakeCircleCI, name: str = "build-and-test") -> str:
    pid = project_id(fake)
    found = next(
        d for d in store(fake.world).definitions.values() if d.project_id == pid and d.name == name
    )
    return f"/projects/{pid}/pipeline-definitions/{found.id}"


def trigger_path(fake: FakeCircleCI, provider: str) -> str:
    pid = project_id(fake)
    found = next(
        t
        for t in store(fake.world).triggers.values()
        if t.project_id == pid and t.provider == provider
    )
    return f"/projects/{pid}/triggers/{found.id}"


def repo_id(fake: FakeCircleCI) -> str:
    return store(fake.world).repo_of_project[project_id(fake)].external_id


def new_definition(fake: FakeCircleCI) -> dict[str, Any]:
    return {
        "name": NEW_DEFINITION,
        "description": "made by the conformance test",
        "config_source": {
            "provider": "github_app",
            "repo": {"external_id": repo_id(fake)},
            "file_path": ".circleci/other.yml",
        },
        "checkout_source": {"provider": "github_app", "repo": {"external_id": repo_id(fake)}},
    }


def environment_id(fake: FakeCircleCI) -> str:
    return next(iter(deploy_store(fake.world).environments))


def component_id(fake: FakeCircleCI) -> str:
    pid = project_id(fake)
    return next(c.id for c in deploy_store(fake.world).components.values() if c.project_id == pid)


def rollback_body(fake: FakeCircleCI) -> dict[str, Any]:
    state = deploy_store(fake.world)
    component = state.components[component_id(fake)]
    production = next(
        e for e in state.environments.values() if e.org_id == org(fake) and e.name == "production"
    )
    live = state.live(component.id, production.id)
    assert live is not None
    earlier = next(
        v
        for v in state.versions[component.id]
        if v.environment_id == production.id and v.name != live.name
    )
    return {
        "environment_name": "production",
        "component_name": component.name,
        "current_version": live.name,
        "target_version": earlier.name,
        "reason": "conformance",
    }


def claims_path(fake: FakeCircleCI, project: bool = False) -> str:
    base = f"/org/{org(fake)}"
    if project:
        base += f"/project/{project_id(fake)}"
    return f"{base}/oidc-custom-claims"


def owner(fake: FakeCircleCI) -> str:
    return f"/owner/{org(fake)}/context/config"


def decision_path(fake: FakeCircleCI) -> str:
    decisions = policy_store(fake.world).owners[(org(fake), "config")].decisions
    return f"{owner(fake)}/decision/{decisions[0].id}"


# One success case per operation; changes after reads.
SUCCESS: dict[str, Case] = {
    "listPipelineDefinitions": lambda f: Call(
        "GET", f"/projects/{project_id(f)}/pipeline-definitions", 200
    ),
    "getPipelineDefinition": lambda f: Call("GET", definition_path(f), 200),
    "listPipelineDefinitionTriggers": lambda f: Call("GET", f"{definition_path(f)}/triggers", 200),
    "getTrigger": lambda f: Call("GET", trigger_path(f, "schedule"), 200),
    "listEnvironments": lambda f: Call(
        "GET", "/deploy/environments", 200, params={"org-id": org(f), "page-size": "1"}
    ),
    "getEnvironment": lambda f: Call("GET", f"/deploy/environments/{environment_id(f)}", 200),
    "listComponents": lambda f: Call(
        "GET",
        "/deploy/components",
        200,
        params={"org-id": org(f), "project-id": project_id(f), "page-size": "5"},
    ),
    "getComponent": lambda f: Call("GET", f"/deploy/components/{component_id(f)}", 200),
    "listComponentVersions": lambda f: Call(
        "GET", f"/deploy/components/{component_id(f)}/versions", 200
    ),
    "GetOrgClaims": lambda f: Call("GET", claims_path(f), 200),
    "GetProjectClaims": lambda f: Call("GET", claims_path(f, project=True), 200),
    "GetPolicyBundle": lambda f: Call("GET", f"{owner(f)}/policy-bundle", 200),
    "GetPolicyDocument": lambda f: Call("GET", f"{owner(f)}/policy-bundle/config_basics", 200),
    "GetDecisionLogs": lambda f: Call(
        "GET", f"{owner(f)}/decision", 200, params={"status": "HARD_FAIL"}
    ),
    "GetDecisionLog": lambda f: Call("GET", decision_path(f), 200),
    "GetDecisionLogPolicyBundle": lambda f: Call("GET", f"{decision_path(f)}/policy-bundle", 200),
    "GetDecisionSettings": lambda f: Call("GET", f"{owner(f)}/decision/settings", 200),
    # Changes to the world from here on.
    "createPipelineDefinition": lambda f: Call(
        "POST", f"/projects/{project_id(f)}/pipeline-definitions", 200, json=new_definition(f)
    ),
    "updatePipelineDefinition": lambda f: Call(
        "PATCH",
        definition_path(f, NEW_DEFINITION),
        200,
        json={"description": "changed", "config_source": {"file_path": ".circleci/x.yml"}},
    ),
    "createTrigger": lambda f: Call(
        "POST",
        f"{definition_path(f, NEW_DEFINITION)}/triggers",
        200,
        json={
            "event_source": {"provider": "webhook", "webhook": {"sender": "deploy-bot"}},
            "event_name": "deploy-hook",
            "config_ref": "main",
            "checkout_ref": "main",
            "parameters": {"deploy": True},
        },
    ),
    "updateTrigger": lambda f: Call(
        "PATCH",
        trigger_path(f, "webhook"),
        200,
        json={"disabled": True, "event_source": {"webhook": {"sender": "other-bot"}}},
    ),
    "deleteTrigger": lambda f: Call("DELETE", trigger_path(f, "webhook"), 200),
    "deletePipelineDefinition": lambda f: Call("DELETE", definition_path(f, NEW_DEFINITION), 200),
    "rollbackProject": lambda f: Call(
        "POST", f"/projects/{project_id(f)}/rollback", 202, json=rollback_body(f)
    ),
    "PatchOrgClaims": lambda f: Call(
        "PATCH", claims_path(f), 200, json={"audience": ["a", "b"], "ttl": "30m"}
    ),
    "DeleteOrgClaims": lambda f: Call("DELETE", claims_path(f), 200, params={"claims": "ttl"}),
    "PatchProjectClaims": lambda f: Call(
        "PATCH", claims_path(f, project=True), 200, json={"ttl": "1h30m"}
    ),
    "DeleteProjectClaims": lambda f: Call(
        "DELETE", claims_path(f, project=True), 200, params={"claims": "audience,ttl"}
    ),
    "CreatePolicyBundle": lambda f: Call(
        "POST",
        f"{owner(f)}/policy-bundle",
        201,
        json={
            "policies": {
                "basics.rego": SEED_POLICY,
                "more.rego": 'package org\npolicy_name["more"]\nenable_rule["require_workflows"]\n',
            }
        },
    ),
    "MakeDecision": lambda f: Call(
        "POST",
        f"{owner(f)}/decision",
        200,
        json={
            "input": "jobs:\n  build:\n    docker:\n      - image: cimg/go:latest\n",
            "metadata": {"project_id": project_id(f), "build_number": 7},
        },
    ),
    "SetDecisionSettings": lambda f: Call(
        "PATCH", f"{owner(f)}/decision/settings", 200, json={"enabled": False}
    ),
}

# Error answers, validated against the status the operation declares (or its default).
ERRORS: list[tuple[str, Case]] = [
    (
        "getPipelineDefinition",
        lambda f: Call("GET", f"/projects/{project_id(f)}/pipeline-definitions/{NO_SUCH}", 404),
    ),
    (
        "listPipelineDefinitions",
        lambda f: Call("GET", f"/projects/{NO_SUCH}/pipeline-definitions", 404),
    ),
    (
        "createPipelineDefinition",
        lambda f: Call(
            "POST",
            f"/projects/{project_id(f)}/pipeline-definitions",
            400,
            json={**new_definition(f), "config_source": {"provider": "circleci"}},
        ),
    ),
    ("getTrigger", lambda f: Call("GET", f"/projects/{project_id(f)}/triggers/{NO_SUCH}", 404)),
    (
        "createTrigger",
        lambda f: Call(
            "POST",
            f"{definition_path(f)}/triggers",
            400,
            json={"event_source": {"provider": "schedule", "schedule": {"cron_expression": "x"}}},
        ),
    ),
    ("getEnvironment", lambda f: Call("GET", f"/deploy/environments/{NO_SUCH}", 404)),
    ("listEnvironments", lambda f: Call("GET", "/deploy/environments", 400)),
    ("getComponent", lambda f: Call("GET", f"/deploy/components/{NO_SUCH}", 404)),
    (
        "rollbackProject",
        lambda f: Call(
            "POST",
            f"/projects/{project_id(f)}/rollback",
            409,
            json={**rollback_body(f), "current_version": "0.0.0"},
        ),
    ),
    ("GetOrgClaims", lambda f: Call("GET", "/org/not-a-uuid/oidc-custom-claims", 400)),
    ("GetOrgClaims", lambda f: Call("GET", f"/org/{NO_SUCH}/oidc-custom-claims", 403)),
    ("PatchOrgClaims", lambda f: Call("PATCH", claims_path(f), 400, json={"ttl": "forever"})),
    ("DeleteProjectClaims", lambda f: Call("DELETE", claims_path(f, project=True), 400)),
    ("GetPolicyBundle", lambda f: Call("GET", "/owner/nope/context/config/policy-bundle", 400)),
    ("GetPolicyDocument", lambda f: Call("GET", f"{owner(f)}/policy-bundle/no-such", 404)),
    ("GetDecisionLog", lambda f: Call("GET", f"{owner(f)}/decision/{NO_SUCH}", 404)),
    (
        "CreatePolicyBundle",
        lambda f: Call(
            "POST", f"{owner(f)}/policy-bundle", 400, json={"policies": {"x.rego": "package x"}}
        ),
    ),
    ("MakeDecision", lambda f: Call("POST", f"{owner(f)}/decision", 400, json={"metadata": {}})),
]
