"""What ``aiocircleci fake-server`` prints is enough to mirror from it, and a 401 says why."""

from __future__ import annotations

import os
from pathlib import Path

from aiocircleci.testing import FakeCircleCI, WorldConfig
from aiocircleci.testing._cli import env_lines

from .test_cli_mirror import run_cli

WORLD = WorldConfig(
    projects=1, pipelines_per_project=1, workflows_per_pipeline=1, jobs_per_workflow=1
)


def _pasted(fake: FakeCircleCI) -> dict[str, str]:
    """A shell's environment after pasting the printed lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE", "CIRCLECI"))}
    for line in env_lines(fake):
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    return env


def test_the_printed_env_lines_are_all_a_mirror_of_private_artifacts_needs(tmp_path: Path) -> None:
    with FakeCircleCI(seed=5, config=WORLD, private=True) as fake:
        env = _pasted(fake)
        done = run_cli(
            fake, "mirror", fake.world.projects[0].slug, "--dest", str(tmp_path), env=env
        )
        assert done.returncode == 0, done.stderr
        assert fake.artifact_requests
        assert all(r.status != 401 for r in fake.artifact_requests)


def test_a_401_from_an_untrusted_artifact_host_names_the_artifact_host_to_pass(
    tmp_path: Path,
) -> None:
    with FakeCircleCI(seed=5, config=WORLD, private=True) as fake:
        env = _pasted(fake)
        del env["CIRCLECI_ARTIFACT_HOSTS"]
        done = run_cli(
            fake, "mirror", fake.world.projects[0].slug, "--dest", str(tmp_path), env=env
        )
        assert done.returncode != 0
        assert f"--artifact-host {fake.artifact_origin}" in done.stderr
        assert "was not sent the token" in done.stderr
        assert fake.token not in done.stderr + done.stdout
