"""Every script in ``examples/`` runs against the emulator, as a user would run it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiocircleci.testing import FakeCircleCI, WorldConfig

from .test_cli_commands import _cancel_new_workflows

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
# Recent pipelines, so that "the last week" holds some; a public artifact host,
# as the examples trust only CircleCI's own artifact hosts with the token.
WORLD = WorldConfig(projects=3, pipelines_per_project=12, start_time=time.time())


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeCircleCI]:
    with FakeCircleCI(seed=71, config=WORLD, private=False, rate_limit=200) as fake:
        yield fake


def _run(fake: FakeCircleCI, name: str, *args: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE", "CIRCLECI"))}
    env.update(CIRCLECI_BASE_URL=fake.base_url, CIRCLE_TOKEN=fake.token)
    env["EXAMPLE_POLL_SECONDS"] = "0.1"
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


def test_every_example_has_a_test() -> None:
    tested = {
        "mirror_last_week",
        "trigger_and_wait",
        "insights_report",
        "latest_artifacts",
        "fan_out",
    }
    assert {p.stem for p in EXAMPLES.glob("*.py")} == tested


def test_mirror_last_week_of_main(fake: FakeCircleCI, tmp_path: Path) -> None:
    slug = fake.world.projects[0].slug
    week = time.time() - 7 * 86400
    expected = {
        a.sha256
        for p in fake.world.pipelines(slug, branch="main")
        if p.created_at >= week
        for w in fake.world.workflows(p.id)
        for j in fake.world.jobs(w.id)
        for a in fake.world.artifacts(j)
    }
    assert expected
    out = _run(fake, "mirror_last_week", slug, "week", cwd=tmp_path)
    assert "0 failed" in out
    got = {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (tmp_path / "week").rglob("*")
        if p.is_file() and not p.name.startswith(".aiocircleci")
    }
    assert got == expected


def test_trigger_and_wait(fake: FakeCircleCI, tmp_path: Path) -> None:
    slug = fake.world.projects[0].slug
    known = fake.world.pipelines(slug)[0].number
    canceller = threading.Thread(target=_cancel_new_workflows, args=(fake, slug, known))
    canceller.start()
    try:
        out = _run(fake, "trigger_and_wait", slug, "main", cwd=tmp_path)
    finally:
        canceller.join()
    assert out.startswith(f"pipeline #{known + 1} ")
    assert ": canceled" in out
    assert out.rstrip().endswith("some workflows did not succeed")
    assert fake.world.pipelines(slug)[0].trigger_parameters == {
        "deploy": False,
        "image-tag": "latest",
    }


def test_insights_report(fake: FakeCircleCI, tmp_path: Path) -> None:
    out = _run(fake, "insights_report", fake.world.projects[0].slug, cwd=tmp_path)
    lines = out.splitlines()
    assert lines[0].split() == ["workflow", "runs", "success", "median", "s", "p95", "s"]
    assert len(lines) > 1


def test_latest_artifacts_of_a_branch(fake: FakeCircleCI, tmp_path: Path) -> None:
    slug = fake.world.projects[0].slug
    newest = fake.world.pipelines(slug, branch="main")[0]
    artifacts = [
        a
        for w in fake.world.workflows(newest.id)
        for j in fake.world.jobs(w.id)
        for a in fake.world.artifacts(j)
    ]
    out = _run(fake, "latest_artifacts", slug, "main", "out", cwd=tmp_path)
    assert out.startswith(f"pipeline #{newest.number} on main")
    assert f"{len(artifacts)} done" in out
    got = sorted(
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    )
    assert got == sorted(a.sha256 for a in artifacts)


def test_fan_out_over_projects_sharing_one_limiter(fake: FakeCircleCI, tmp_path: Path) -> None:
    slugs = [p.slug for p in fake.world.projects]
    fake.clear_requests()
    started = time.monotonic()
    out = _run(fake, "fan_out", *slugs, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert [line.split(":")[0] for line in out.splitlines()] == slugs
    requests = len(fake.api_requests)
    # One budget of 10/s (bursts of 5) for all of them together.
    assert elapsed >= (requests - 5) / 10 * 0.9
