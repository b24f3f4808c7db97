"""A 1 GiB artifact downloads with a bounded peak RSS (slow: run with ``-m slow``)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from aiocircleci.testing import FakeCircleCI, MiB, WorldConfig

GiB = 1024 * MiB


def _run_measured(argv: list[str], env: dict[str, str]) -> tuple[int, float, str]:
    """Exit code, peak RSS in MiB and stderr of one child process."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read().decode()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_maxrss / 1024, err


def _sha_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(4 * MiB):
            digest.update(block)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.anyio
async def test_one_gib_artifact_downloads_under_64_mib_peak_rss(tmp_path: Path) -> None:
    config = WorldConfig(
        projects=1,
        pipelines_per_project=1,
        workflows_per_pipeline=1,
        jobs_per_workflow=1,
        artifacts_per_job=1,
        quirks=False,
        large_artifacts=1,
        large_artifact_size=GiB,
    )
    async with FakeCircleCI(seed=21, config=config) as fake:
        big = max(fake.world.iter_artifacts(), key=lambda a: a.size)
        urls = tmp_path / "urls.txt"
        urls.write_text(big.url + "\n")
        env = {**os.environ, "CIRCLECI_BASE_URL": fake.base_url, "CIRCLE_TOKEN": fake.token}
        argv = [sys.executable, "-m", "aiocircleci", "-q", "download", "-i", str(urls)]
        argv += ["--dest", str(tmp_path / "out"), "--artifact-host", fake.artifact_origin]
        code, peak_mib, err = await anyio.to_thread.run_sync(_run_measured, argv, env)
    assert code == 0, err
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert [p.stat().st_size for p in files] == [GiB]
    assert _sha_file(files[0]) == big.sha256
    assert peak_mib < 64, f"peak RSS {peak_mib:.1f} MiB"
