"""Something else at a file's final name is that file's failure, never "complete".

A directory, a symlink, or a file standing where a directory must be: the
mirror's own checks see them without following any symlink, fail that one file
with a clear reason (exit 1), and mirror the rest. Nothing outside DEST is read
as if it were ours, or written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiocircleci._manifest import MANIFEST_NAME, read_manifest
from aiocircleci.testing import FakeCircleCI, WorldConfig

from .test_cli_mirror import Chosen, layout_path, run_cli, world_files

WORLD = WorldConfig(
    projects=1,
    pipelines_per_project=1,
    workflows_per_pipeline=1,
    jobs_per_workflow=2,
    artifacts_per_job=3,
    max_artifact_size=4096,
    quirks=False,
)


@pytest.fixture
def fake() -> Iterator[FakeCircleCI]:
    with FakeCircleCI(seed=91, config=WORLD) as fake:
        yield fake


def _mirror(fake: FakeCircleCI, dest: Path, *args: str) -> tuple[int, dict[str, object], str]:
    slug = fake.world.projects[0].slug
    done = run_cli(fake, "--json", "mirror", slug, "--dest", str(dest), *args)
    return done.returncode, json.loads(done.stdout), done.stderr


def _failed(body: dict[str, object]) -> dict[str, str]:
    failed = body["failed"]
    assert isinstance(failed, list)
    return {f["path"]: f["error"] for f in failed}


def _intact(dest: Path, chosen: list[Chosen], but: set[str]) -> None:
    for c in chosen:
        rel = layout_path(c)
        if rel in but:
            continue
        assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == c[3].sha256, rel


def test_a_directory_at_a_recorded_files_name_fails_that_file_alone(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    assert _mirror(fake, dest)[0] == 0
    chosen = list(world_files(fake.world))
    victim = layout_path(chosen[1])
    (dest / victim).unlink()
    (dest / victim).mkdir()
    (dest / victim / "keep.txt").write_text("mine")

    code, body, _ = _mirror(fake, dest)
    assert code == 1
    assert _failed(body) == {victim: "a directory stands at the file's name"}
    assert (dest / victim / "keep.txt").read_text() == "mine"
    _intact(dest, chosen, {victim})


def test_a_symlink_at_a_recorded_files_name_is_not_complete_and_its_target_untouched(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    assert _mirror(fake, dest)[0] == 0
    chosen = list(world_files(fake.world))
    victim = layout_path(chosen[0])
    # Outside DEST: a file of the very same size, which a followed stat would take for ours.
    outside = tmp_path / "outside"
    outside.write_bytes(b"x" * (dest / victim).stat().st_size)
    (dest / victim).unlink()
    (dest / victim).symlink_to(outside)

    code, body, _ = _mirror(fake, dest, "--verify")
    assert code == 1
    assert _failed(body) == {victim: "a symlink stands at the file's name"}
    assert outside.read_bytes() == b"x" * outside.stat().st_size
    assert (dest / victim).is_symlink()
    _intact(dest, chosen, {victim})


def test_a_directory_at_a_new_files_name_is_a_failure_not_a_skip(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    chosen = list(world_files(fake.world))
    victim = layout_path(chosen[2])
    (dest / victim).mkdir(parents=True)

    code, body, _ = _mirror(fake, dest)
    assert code == 1
    assert _failed(body) == {victim: "a directory stands at the file's name"}
    assert body["files"] == {"done": len(chosen) - 1, "skipped": 0, "failed": 1}
    assert victim not in {r.path for r in read_manifest(dest) if r.complete}
    _intact(dest, chosen, {victim})


def test_a_symlinked_directory_on_the_way_fails_its_files_and_writes_nothing_outside(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    chosen = list(world_files(fake.world))
    victim = layout_path(chosen[0])
    job_dir = Path(victim).parents[1]  # <job>/ above <node>/
    outside = tmp_path / "outside"
    outside.mkdir()
    (dest / job_dir.parent).mkdir(parents=True)
    (dest / job_dir).symlink_to(outside, target_is_directory=True)

    code, body, _ = _mirror(fake, dest)
    assert code == 1
    in_job = {layout_path(c) for c in chosen if layout_path(c).startswith(f"{job_dir}/")}
    failed = _failed(body)
    assert set(failed) == in_job
    assert all("symlink" in reason for reason in failed.values())
    assert list(outside.iterdir()) == []
    _intact(dest, chosen, in_job)


def test_an_artifact_beside_a_directory_of_an_earlier_runs_artifacts_gets_its_own_name(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    world = fake.world
    job = world.jobs(world.workflows(world.pipelines(world.projects[0].slug)[0].id)[0].id)[0]
    world.store_artifact(job, "report/index.html", size=300)
    assert _mirror(fake, dest)[0] == 0
    # As if the job had still been running then: its listing was not kept, so the
    # next run lists it again, and now it has "report" itself, where the earlier
    # run made a directory.
    with sqlite3.connect(dest / MANIFEST_NAME) as db:
        db.execute("DELETE FROM listings")
    db.close()
    added = world.store_artifact(job, "report", size=200, at=0)  # listed before report/...
    code, body, _ = _mirror(fake, dest)
    assert code == 0, body
    chosen = list(world_files(world))
    by_path = {c[3].path: c for c in chosen if c[2].id == job.id}
    directory = layout_path(by_path["report/index.html"])
    assert (dest / directory).read_bytes() == world.artifact(job.id, 0, "report/index.html").read()
    renamed = Path(directory).parent.with_name("report~2")
    assert (dest / renamed).read_bytes() == added.read()
    rows = {r.artifact_path: r.path for r in read_manifest(dest) if r.job_number == job.number}
    assert rows["report"] == str(renamed)
    assert rows["report/index.html"] == directory
    assert os.path.isdir(dest / Path(directory).parent)
