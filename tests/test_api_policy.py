"""Config policies through the client: bundles, decisions, the decision log, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from aiocircleci import BadRequest, Client, Forbidden, NotFound
from aiocircleci.models import BundleDiff, DecisionStatus, PolicyViolation
from aiocircleci.testing import FakeCircleCI, Project, WorldConfig
from aiocircleci.testing._api.policy import SEED_POLICY

from .conftest import emulator_client

pytestmark = pytest.mark.anyio

CONFIG = WorldConfig(projects=3, pipelines_per_project=1, artifacts_per_job=0)
NO_SUCH = "00000000-0000-4000-8000-000000000000"

GOOD = "version: 2.1\nworkflows:\n  main:\n    jobs: [build]\n"
NO_VERSION = "jobs:\n  build:\n    docker:\n      - image: cimg/base:2024.01\n"
LATEST = "version: 2.1\njobs:\n  build:\n    docker:\n      - image: cimg/node:latest\n"
WORKFLOWS_POLICY = 'package org\n\npolicy_name["workflows"]\nenable_rule["require_workflows"]\n'


@dataclass
class Env:
    fake: FakeCircleCI
    client: Client
    project: Project

    @property
    def owner(self) -> str:
        return self.project.organization.id


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    # Decision-log pages of two: the offset paging is exercised.
    async with emulator_client(CONFIG, seed=9, page_size=2) as (fake, client):
        yield Env(fake, client, fake.world.projects[0])


async def test_an_owner_starts_with_the_config_basics_policy(env: Env) -> None:
    bundle = await env.client.get_policy_bundle(env.owner)
    assert list(bundle.policies) == ["config_basics"]
    (policy,) = bundle.policies["config_basics"]
    assert policy.content == SEED_POLICY
    assert policy.created_by == env.fake.world.user.id
    assert await env.client.get_policy_document(env.owner, "config_basics") == policy


async def test_decisions_follow_the_enabled_rules_and_their_hard_fail_lines(env: Env) -> None:
    passed = await env.client.make_decision(env.owner, GOOD)
    assert passed.status is DecisionStatus.PASS
    assert passed.enabled_rules == ["forbid_latest_images", "require_version"]
    assert (passed.hard_failures, passed.soft_failures) == ([], [])

    hard = await env.client.make_decision(env.owner, NO_VERSION)
    assert hard.status is DecisionStatus.HARD_FAIL
    assert hard.hard_failures == [
        PolicyViolation(rule="require_version", reason="config must declare a version")
    ]

    soft = await env.client.make_decision(env.owner, LATEST)
    assert soft.status is DecisionStatus.SOFT_FAIL
    assert soft.soft_failures == [
        PolicyViolation(
            rule="forbid_latest_images", reason="image cimg/node:latest uses the latest tag"
        )
    ]


async def test_a_dry_run_reports_the_diff_and_a_real_push_replaces_the_bundle(env: Env) -> None:
    policies = {"workflows.rego": WORKFLOWS_POLICY}
    dry = await env.client.create_policy_bundle(env.owner, policies, dry_run=True)
    assert dry == BundleDiff(created=["workflows"], deleted=["config_basics"])
    assert list((await env.client.get_policy_bundle(env.owner)).policies) == ["config_basics"]

    pushed = await env.client.create_policy_bundle(
        env.owner, {"basics.rego": SEED_POLICY + "\n# tweaked\n", **policies}
    )
    assert pushed == BundleDiff(created=["workflows"], modified=["config_basics"])
    bundle = await env.client.get_policy_bundle(env.owner)
    assert sorted(bundle.policies) == ["config_basics", "workflows"]
    assert (await env.client.get_policy_document(env.owner, "workflows")).content == (
        WORKFLOWS_POLICY
    )
    decision = await env.client.make_decision(env.owner, "version: 2.1\n")
    assert "require_workflows" in decision.enabled_rules
    assert decision.status is DecisionStatus.SOFT_FAIL

    emptied = await env.client.create_policy_bundle(env.owner, {})
    assert emptied.deleted == ["config_basics", "workflows"]
    with pytest.raises(NotFound):
        await env.client.get_policy_document(env.owner, "workflows")
    assert (await env.client.make_decision(env.owner, NO_VERSION)).status is DecisionStatus.PASS


async def test_every_decision_is_logged_with_the_bundle_it_was_made_under(env: Env) -> None:
    decision = await env.client.make_decision(
        env.owner,
        NO_VERSION,
        metadata={"project_id": env.project.id, "build_number": 42, "vcs": {"branch": "dev"}},
    )
    (log,) = [entry async for entry in env.client.decision_logs(env.owner, limit=1)]
    assert log.decision == decision
    assert log.metadata is not None
    assert (log.metadata.project_id, log.metadata.build_number) == (env.project.id, 42)
    assert log.metadata.vcs is not None
    assert log.metadata.vcs.branch == "dev"
    assert list(log.policies) == ["config_basics"]
    assert all(len(digest) == 128 for digest in log.policies.values())
    assert await env.client.get_decision_log(env.owner, log.id) == log

    await env.client.create_policy_bundle(env.owner, {"w.rego": WORKFLOWS_POLICY})
    then = await env.client.get_decision_log_policy_bundle(env.owner, log.id)
    assert list(then.policies) == ["config_basics"]
    assert list((await env.client.get_policy_bundle(env.owner)).policies) == ["workflows"]


async def test_the_decision_log_is_read_page_by_page_through_offsets(env: Env) -> None:
    seeded = await env.client.decision_logs(env.owner).collect()
    for index in range(5):
        await env.client.make_decision(env.owner, GOOD, metadata={"build_number": index})
    env.fake.clear_requests()
    logs = await env.client.decision_logs(env.owner).collect()
    assert len(logs) == len(seeded) + 5
    assert len({log.id for log in logs}) == len(logs)
    times = [log.created_at for log in logs if log.created_at is not None]
    assert times == sorted(times, reverse=True)
    offsets = [dict(r.query).get("offset") for r in env.fake.api_requests]
    assert offsets == [None, "2", "4", "6", "8"]  # the last page is empty: the end


async def test_the_decision_log_filters_are_sent_with_every_page(env: Env) -> None:
    for build in (1, 2, 3):
        await env.client.make_decision(
            env.owner,
            NO_VERSION,
            metadata={"project_id": env.project.id, "build_number": build, "vcs": {"branch": "b"}},
        )
    hard = await env.client.decision_logs(env.owner, status=DecisionStatus.HARD_FAIL).collect()
    assert {log.decision.status for log in hard if log.decision} == {DecisionStatus.HARD_FAIL}
    on_branch = await env.client.decision_logs(env.owner, branch="b").collect()
    builds = [log.metadata.build_number for log in on_branch if log.metadata]
    assert builds == [3, 2, 1]  # newest first
    assert all(dict(r.query).get("branch") == "b" for r in env.fake.api_requests[-2:])
    (second,) = await env.client.decision_logs(
        env.owner, project_id=env.project.id, build_number=2
    ).collect()
    assert second.metadata is not None
    assert second.metadata.build_number == 2
    future = datetime.now(UTC) + timedelta(days=1)
    assert await env.client.decision_logs(env.owner, after=future).collect() == []
    assert len(await env.client.decision_logs(env.owner, before=future, branch="b").collect()) == 3


async def test_disabled_evaluation_passes_everything_and_logs_nothing(env: Env) -> None:
    assert (await env.client.get_decision_settings(env.owner)).enabled is True
    assert (await env.client.set_decision_settings(env.owner, enabled=False)).enabled is False
    assert (await env.client.get_decision_settings(env.owner)).enabled is False
    logged = len(await env.client.decision_logs(env.owner).collect())
    decision = await env.client.make_decision(env.owner, NO_VERSION)
    assert decision.status is DecisionStatus.PASS
    assert decision.reason == "policy evaluation is disabled"
    assert len(await env.client.decision_logs(env.owner).collect()) == logged
    await env.client.set_decision_settings(env.owner, enabled=True)
    assert (await env.client.make_decision(env.owner, NO_VERSION)).status is (
        DecisionStatus.HARD_FAIL
    )


async def test_bad_owners_bundles_and_inputs_are_refused_with_the_error_message(
    env: Env,
) -> None:
    with pytest.raises(Forbidden):
        await env.client.get_policy_bundle(NO_SUCH)
    with pytest.raises(BadRequest, match="OwnerID: must be a valid UUID"):
        await env.client.get_decision_settings("acme-corp")
    with pytest.raises(BadRequest, match="context"):
        await env.client.get_policy_bundle(env.owner, context="deploy")
    with pytest.raises(BadRequest, match="package must be org"):
        await env.client.create_policy_bundle(env.owner, {"x.rego": 'policy_name["x"]'})
    with pytest.raises(BadRequest, match="policy_name"):
        await env.client.create_policy_bundle(env.owner, {"x.rego": "package org\n"})
    with pytest.raises(BadRequest, match="input"):
        await env.client.make_decision(env.owner, "  ")
    with pytest.raises(BadRequest, match="metadata"):
        await env.client.make_decision(env.owner, GOOD, metadata={"project_id": "nope"})
    with pytest.raises(NotFound):
        await env.client.get_decision_log(env.owner, NO_SUCH)
    with pytest.raises(NotFound):
        await env.client.get_decision_log_policy_bundle(env.owner, NO_SUCH)
    assert list((await env.client.get_policy_bundle(env.owner)).policies) == ["config_basics"]
