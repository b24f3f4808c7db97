"""A corrupt manifest is moved aside (kept) and rebuilt from DEST, never a dead end."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiocircleci._manifest import MANIFEST_NAME, read_manifest
from aiocircleci.testing import FakeCircleCI, WorldConfig

from .test_cli_mirror import layout_path, run_cli, world_files

WORLD = WorldConfig(
    projects=1,
    pipelines_per_project=2,
    workflows_per_pipeline=2,
    jobs_per_workflow=2,
    artifacts_per_job=3,
    max_artifact_size=4096,
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeCircleCI]:
    with FakeCircleCI(seed=81, config=WORLD) as fake:
        yield fake


def _mirrored(fake: FakeCircleCI, dest: Path) -> None:
    done = run_cli(fake, "-q", "mirror", fake.world.projects[0].slug, "--dest", str(dest))
    assert done.returncode == 0, done.stderr
    # Every row committed and the WAL checkpointed: the file alone is the manifest.
    assert not (dest / f"{MANIFEST_NAME}-wal").exists()


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)


def _garbage(path: Path) -> None:
    path.write_bytes(b"\x00not a database, whatever it was\xff" * 200)


def _kept(dest: Path) -> list[Path]:
    return sorted(dest.glob(f"{MANIFEST_NAME}.*"))


@pytest.mark.parametrize("damage", [_truncate, _garbage], ids=["truncated", "garbage"])
def test_a_damaged_manifest_is_kept_aside_and_rebuilt_from_the_files_on_disk(
    fake: FakeCircleCI, tmp_path: Path, damage: object
) -> None:
    dest = tmp_path / "m"
    _mirrored(fake, dest)
    manifest = dest / MANIFEST_NAME
    assert callable(damage)
    damage(manifest)
    damaged = manifest.read_bytes()

    fake.clear_requests()
    again = run_cli(fake, "--json", "mirror", fake.world.projects[0].slug, "--dest", str(dest))
    assert again.returncode == 0, again.stderr
    lines = again.stderr.splitlines()
    assert len(lines) == 1, again.stderr
    assert "manifest was corrupt" in lines[0]
    # The old file is kept, byte for byte, under the name the line gives.
    (kept,) = _kept(dest)
    assert kept.name in lines[0]
    assert kept.read_bytes() == damaged
    # Nothing was downloaded again: the rebuilt rows know every file's size.
    chosen = list(world_files(fake.world))
    assert not fake.storage_requests
    body = json.loads(again.stdout)
    assert body["files"]["skipped"] == len(chosen)
    assert body["manifest_rebuilt"]["files"] == len(chosen)
    rows = {r.path: r for r in read_manifest(dest)}
    assert set(rows) == {layout_path(c) for c in chosen}
    for c in chosen:
        assert rows[layout_path(c)].size == c[3].size
        assert rows[layout_path(c)].complete


def test_rebuild_manifest_on_request_keeps_the_old_one_and_hashes_under_verify(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    _mirrored(fake, dest)
    before = (dest / MANIFEST_NAME).read_bytes()
    slug = fake.world.projects[0].slug
    fake.clear_requests()
    done = run_cli(fake, "mirror", slug, "--dest", str(dest), "--rebuild-manifest", "--verify")
    assert done.returncode == 0, done.stderr
    assert "rebuilt on request" in done.stderr
    (kept,) = _kept(dest)
    assert kept.read_bytes() == before
    assert not fake.storage_requests
    chosen = list(world_files(fake.world))
    rows = {r.path: r for r in read_manifest(dest)}
    for c in chosen:
        data = (dest / layout_path(c)).read_bytes()
        assert rows[layout_path(c)].sha256 == hashlib.sha256(data).hexdigest() == c[3].sha256


def test_a_dry_run_on_a_corrupt_manifest_says_so_and_moves_nothing(
    fake: FakeCircleCI, tmp_path: Path
) -> None:
    dest = tmp_path / "m"
    _mirrored(fake, dest)
    _garbage(dest / MANIFEST_NAME)
    slug = fake.world.projects[0].slug
    done = run_cli(fake, "mirror", slug, "--dest", str(dest), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "manifest is corrupt" in done.stderr
    assert not _kept(dest)
    refused = run_cli(fake, "mirror", slug, "--dest", str(dest), "--dry-run", "--rebuild-manifest")
    assert refused.returncode == 2
    assert len(refused.stderr.splitlines()) == 1
