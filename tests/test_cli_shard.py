"""``mirror --shard K/N --rate-limiter redis://...``: N machines, one org, one API budget."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from aiocircleci._lock import LOCK_NAME
from aiocircleci._manifest import MANIFEST_NAME
from aiocircleci.testing import FakeCircleCI, WorldConfig

from .test_cli_mirror import _env, run_cli

WORLD = WorldConfig(
    projects=3,
    pipelines_per_project=4,
    workflows_per_pipeline=1,
    jobs_per_workflow=2,
    artifacts_per_job=2,
    max_artifact_size=4096,
)


def _files(root: Path) -> dict[str, str]:
    """Every mirrored file under ``root`` (not the manifest, not the lock): path → sha256."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(MANIFEST_NAME) and p.name != LOCK_NAME
    }


def test_shards_under_one_shared_limiter_cover_the_full_mirror_once_without_a_429(
    tmp_path: Path, redis_server: str
) -> None:
    with FakeCircleCI(seed=61, config=WORLD) as fake:
        slugs = [p.slug for p in fake.world.projects]
        full = run_cli(fake, "mirror", *slugs, "--dest", str(tmp_path / "full"))
        assert full.returncode == 0, full.stderr

        # Two machines at once, one token, one budget of R/s kept in Valkey.
        rate = 25
        fake.set_rate_limit(rate)
        fake.clear_requests()
        limiter = f"{redis_server}/0"
        common = ("--api-rate", str(rate), "--rate-limiter", limiter, *slugs)
        shards = [
            subprocess.Popen(
                [sys.executable, "-m", "aiocircleci", "mirror", *common, *shard_args],
                env=_env(fake, **extra),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
            for shard_args, extra in (
                (("--shard", "0/2", "--dest", str(tmp_path / "a")), {}),
                # K from the Kubernetes Indexed Job variable, N on the command line.
                (("--shard", "2", "--dest", str(tmp_path / "b")), {"JOB_COMPLETION_INDEX": "1"}),
            )
        ]
        errors = [s.communicate(timeout=120)[1] for s in shards]
        assert [s.returncode for s in shards] == [0, 0], errors
        statuses = [r.status for r in fake.api_requests]
        violations = fake.violations

    everything, a, b = (_files(tmp_path / d) for d in ("full", "a", "b"))
    assert everything
    assert a
    assert b
    assert a.keys().isdisjoint(b.keys())
    assert a | b == everything  # byte-exact too: the values are sha256s
    assert violations == 0
    assert 429 not in statuses


def test_a_bad_shard_or_limiter_is_one_line_and_exit_2(tmp_path: Path) -> None:
    dest = str(tmp_path / "out")
    for args, message in (
        (("--shard", "2/2"), "K must be in 0..1"),
        (("--shard", "3"), "JOB_COMPLETION_INDEX is not set"),
        (("--rate-limiter", "http://127.0.0.1:1/0"), "expected redis://HOST:PORT/DB"),
    ):
        done = run_cli(None, "mirror", "gh/acme/api", "--dest", dest, *args)
        assert done.returncode == 2
        assert message in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not Path(dest).exists()
