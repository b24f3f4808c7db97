"""The small commands as a user runs them: tables on stdout, ``--json``, one-line errors."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiocircleci.testing import FakeCircleCI, WorldConfig

from .test_cli_mirror import _env, run_cli

WORLD = WorldConfig(projects=1, pipelines_per_project=6, artifacts_per_job=2)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeCircleCI]:
    with FakeCircleCI(seed=61, config=WORLD) as fake:
        yield fake


def _rows(out: str) -> list[list[str]]:
    return [line.split() for line in out.splitlines()[1:]]


def test_me_prints_the_user_and_json_parses(fake: FakeCircleCI) -> None:
    done = run_cli(fake, "me")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{fake.world.user.login} (")
    assert json.loads(run_cli(fake, "me", "--json").stdout)["id"] == fake.world.user.id


def test_pipelines_workflows_and_jobs_list_what_the_api_holds(fake: FakeCircleCI) -> None:
    slug = fake.world.projects[0].slug
    pipelines = fake.world.pipelines(slug)
    done = run_cli(fake, "pipelines", slug, "--limit", "3")
    assert done.stdout.splitlines()[0].split()[:3] == ["NUMBER", "STATE", "BRANCH"]
    assert [int(r[0]) for r in _rows(done.stdout)] == [p.number for p in pipelines[:3]]
    on_main = json.loads(run_cli(fake, "--json", "pipelines", slug, "--branch", "main").stdout)
    assert [p["number"] for p in on_main] == [p.number for p in pipelines if p.branch == "main"]

    pipeline = next(p for p in pipelines if fake.world.workflows(p.id))
    workflows = fake.world.workflows(pipeline.id)
    listed = _rows(run_cli(fake, "workflows", pipeline.id).stdout)
    assert [(r[0], r[-1]) for r in listed] == [(w.name, w.id) for w in workflows]

    jobs = fake.world.jobs(workflows[0].id)
    listed = _rows(run_cli(fake, "jobs", workflows[0].id).stdout)
    assert [r[0] for r in listed] == [str(j.number) if j.number else "-" for j in jobs]
    assert (
        json.loads(run_cli(fake, "jobs", workflows[0].id, "--json").stdout)[0]["id"] == jobs[0].id
    )


def test_artifacts_are_listed_and_downloaded_by_node_and_path(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    slug = fake.world.projects[0].slug
    job = next(
        j
        for p in fake.world.pipelines(slug)
        for w in fake.world.workflows(p.id)
        for j in fake.world.jobs(w.id)
        if len(fake.world.artifacts(j)) >= 2
    )
    artifacts = fake.world.artifacts(job)
    listed = run_cli(fake, "artifacts", slug, str(job.number))
    assert [r[1] for r in _rows(listed.stdout)] == [a.path.split()[0] for a in artifacts]
    done = run_cli(fake, "artifacts", slug, str(job.number), "--download", str(tmp_path))
    assert done.returncode == 0, done.stderr
    for artifact in artifacts:
        data = (tmp_path / str(artifact.node_index) / artifact.path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact.sha256


def test_insights_shows_each_workflows_runs_and_success_rate(fake: FakeCircleCI) -> None:
    slug = fake.world.projects[0].slug
    done = run_cli(fake, "insights", slug, "--window", "last-90-days", "--branch", "main")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:3] == ["WORKFLOW", "RUNS", "SUCCESS"]
    names = {r[0] for r in _rows(done.stdout)}
    assert names
    assert names <= {w.name for p in fake.world.pipelines(slug) for w in fake.world.workflows(p.id)}


def _cancel_new_workflows(fake: FakeCircleCI, slug: str, known: int) -> None:
    """Play the CI: once the new pipeline has workflows, cancel them through the API."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        newest = fake.world.pipelines(slug)[0]
        workflows = fake.world.workflows(newest.id) if newest.number > known else []
        if workflows:
            time.sleep(0.3)  # let the CLI see them running first
            for workflow in workflows:
                request = urllib.request.Request(
                    f"{fake.base_url}/workflow/{workflow.id}/cancel",
                    method="POST",
                    headers={"Circle-Token": fake.token},
                )
                urllib.request.urlopen(request, timeout=10).close()
            return
        time.sleep(0.05)


def test_trigger_with_parameters_waits_until_every_workflow_has_finished(
    fake: FakeCircleCI,
) -> None:
    slug = fake.world.projects[0].slug
    known = fake.world.pipelines(slug)[0].number
    canceller = threading.Thread(target=_cancel_new_workflows, args=(fake, slug, known))
    canceller.start()
    try:
        done = run_cli(
            fake,
            "trigger",
            slug,
            "--branch",
            "main",
            "--param",
            "deploy=true",
            "--param",
            "retries=3",
            "--param",
            "image=v1",
            "--wait",
            "--interval",
            "0.1",
        )
    finally:
        canceller.join()
    created = fake.world.pipelines(slug)[0]
    assert created.number == known + 1
    assert created.trigger_parameters == {"deploy": True, "retries": 3, "image": "v1"}
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"pipeline #{created.number} {created.id}")
    assert any(line.endswith(": running") for line in lines)
    assert any(line.endswith(": canceled") for line in lines)
    assert done.returncode == 1  # finished, but not successfully


def test_a_trigger_that_never_finishes_times_out_in_one_line(fake: FakeCircleCI) -> None:
    slug = fake.world.projects[0].slug
    args = ("trigger", slug, "--wait", "--interval", "0.1", "--timeout", "0.5")
    done = run_cli(fake, *args)
    assert done.returncode == 1
    assert done.stderr.startswith("aiocircleci: timed out after 0.5 s")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("workflows", "not-an-id"), ("refused",)),
        (("jobs", "00000000-0000-4000-8000-000000000000"), ("not found",)),
        (("pipelines", "gh/x"), ("invalid project slug",)),
        (("trigger", "gh/acme-corp/web-app", "--branch", "a", "--tag", "b"), ("not allowed",)),
        (("trigger", "gh/acme-corp/web-app", "--param", "novalue"), ("KEY=VALUE",)),
        (("artifacts", "gh/acme-corp/web-app", "seven"), ("invalid int",)),
    ],
)
def test_command_errors_are_one_line_with_exit_code_2(
    fake: FakeCircleCI, args: tuple[str, ...], words: tuple[str, ...]
) -> None:
    done = run_cli(fake, *args)
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr
    for word in words:
        assert word in done.stderr


def test_global_options_work_after_the_subcommand_and_no_token_means_exit_2(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(fake.token + "\n")
    env = _env(None)
    args = ["me", "--base-url", fake.base_url, "--token-file", str(token_file), "--json"]
    done = subprocess.run(
        [sys.executable, "-m", "aiocircleci", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["login"] == fake.world.user.login
    missing = run_cli(fake, "me", "--base-url", fake.base_url, env=env)
    assert missing.returncode == 2
    assert "no CircleCI token" in missing.stderr
