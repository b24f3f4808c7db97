"""One writer per DEST: a second run on a destination in use refuses, or waits.

The neighbour holding the lock is a real process (as a cron job overlapping a
manual run would be); the runs under test are the CLI, as a user starts it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiocircleci import DestinationLocked
from aiocircleci._lock import LOCK_NAME, DestLock
from aiocircleci.testing import FakeCircleCI, WorldConfig

from .test_cli_mirror import _check_files, _env, run_cli, world_files

WORLD = WorldConfig(
    projects=1,
    pipelines_per_project=2,
    workflows_per_pipeline=1,
    jobs_per_workflow=2,
    artifacts_per_job=2,
    max_artifact_size=4096,
)
_HOLDER = """
import sys
from aiocircleci._lock import DestLock
with DestLock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def fake() -> Iterator[FakeCircleCI]:
    with FakeCircleCI(seed=71, config=WORLD) as fake:
        yield fake


@contextlib.contextmanager
def _holder(dest: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding DEST's lock until its stdin closes."""
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(dest)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stdout.readline() == "held\n"
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


@pytest.fixture
def neighbour(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    with _holder(tmp_path / "m") as process:
        yield process


def _only_lock(dest: Path) -> list[str]:
    return sorted(str(p.relative_to(dest)) for p in dest.rglob("*"))


def test_a_mirror_on_a_dest_in_use_exits_2_naming_the_holders_pid(
    fake: FakeCircleCI, tmp_path: Path, neighbour: subprocess.Popen[str]
) -> None:
    dest = tmp_path / "m"
    slug = fake.world.projects[0].slug
    done = run_cli(fake, "mirror", slug, "--dest", str(dest))
    assert done.returncode == 2
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert f"pid {neighbour.pid}" in lines[0]
    assert "--wait-lock" in lines[0]
    # Nothing was written or fetched: the neighbour's files are safe.
    assert _only_lock(dest) == [LOCK_NAME]
    assert not fake.artifact_requests


def test_a_download_on_a_dest_in_use_exits_2_naming_the_holders_pid(
    fake: FakeCircleCI, tmp_path: Path, neighbour: subprocess.Popen[str]
) -> None:
    dest = tmp_path / "m"
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{fake.artifact_origin}/nothing/here\n")
    done = subprocess.run(
        [sys.executable, "-m", "aiocircleci", "download", "-i", str(listing), "--dest", str(dest)],
        env=_env(fake),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"aiocircleci: {dest} is in use by another aiocircleci run (pid {neighbour.pid}); "
        "wait for it with --wait-lock"
    ]
    assert not fake.artifact_requests


def test_artifacts_download_on_a_dest_in_use_exits_2_and_fetches_nothing(
    fake: FakeCircleCI, tmp_path: Path, neighbour: subprocess.Popen[str]
) -> None:
    dest = tmp_path / "m"
    _, _, job, _ = next(iter(world_files(fake.world)))
    slug = fake.world.projects[0].slug
    done = run_cli(fake, "artifacts", slug, str(job.number), "--download", str(dest))
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"aiocircleci: {dest} is in use by another aiocircleci run (pid {neighbour.pid}); "
        "wait for it with --wait-lock"
    ]
    assert _only_lock(dest) == [LOCK_NAME]
    assert not fake.artifact_requests


def test_wait_lock_starts_when_the_neighbour_ends_and_mirrors_everything(
    fake: FakeCircleCI, tmp_path: Path, neighbour: subprocess.Popen[str]
) -> None:
    dest = tmp_path / "m"
    slug = fake.world.projects[0].slug
    argv = [sys.executable, "-m", "aiocircleci", "--json", "mirror", slug, "--dest", str(dest)]
    with subprocess.Popen(
        [*argv, "--wait-lock", "--api-rate", "1000"],
        env=_env(fake),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as waiting:
        try:
            # Once past its pre-flight API calls the run reaches the lock; while the
            # neighbour holds DEST, the waiting run writes and fetches nothing.
            deadline = time.monotonic() + 20
            while not fake.api_requests and time.monotonic() < deadline:
                time.sleep(0.02)
            deadline = time.monotonic() + 0.4
            while time.monotonic() < deadline:
                assert waiting.poll() is None
                assert not fake.artifact_requests
                time.sleep(0.05)
            assert _only_lock(dest) == [LOCK_NAME]
            assert neighbour.stdin is not None
            neighbour.stdin.close()  # the neighbour finishes
            out, err = waiting.communicate(timeout=60)
        finally:
            if waiting.poll() is None:
                waiting.kill()
    assert waiting.returncode == 0, err
    chosen = list(world_files(fake.world))
    assert json.loads(out)["files"]["done"] == len(chosen)
    _check_files(dest, fake.world, chosen)


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    with _holder(dest) as process:
        with pytest.raises(DestinationLocked) as caught:
            DestLock(dest).acquire()
        assert caught.value.pid == process.pid
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    with DestLock(dest) as lock:
        assert lock.held
        assert (dest / LOCK_NAME).read_text().split() == [str(os.getpid()), lock.run_id]


def test_a_symlink_at_the_lock_files_name_is_refused(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    dest.mkdir()
    outside = tmp_path / "outside"
    (dest / LOCK_NAME).symlink_to(outside)
    with pytest.raises(Exception, match="symlink"):
        DestLock(dest).acquire()
    assert not outside.exists()


def test_a_symlink_at_the_lock_name_is_one_line_that_says_what_failed_once(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    dest.mkdir()
    (dest / LOCK_NAME).symlink_to(tmp_path / "elsewhere")
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{fake.artifact_origin}/nothing/here\n")
    done = subprocess.run(
        [sys.executable, "-m", "aiocircleci", "download", "-i", str(listing), "--dest", str(dest)],
        env=_env(fake),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"aiocircleci: cannot lock {dest}: a symlink stands at the lock file's name"
    ]
    assert not (tmp_path / "elsewhere").exists()
    assert not fake.artifact_requests
