"""The manifest: rows survive a reopen and a SIGKILL; read-only never creates anything."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import anyio
import pytest

from aiocircleci._manifest import MANIFEST_NAME, Manifest, ManifestRow, read_manifest
from aiocircleci.errors import DiskError


def _row(n: int, **changes: object) -> ManifestRow:
    values: dict[str, object] = {
        "path": f"gh/o/r/1/build-abcdef12/test-{n}/0/file-{n}.txt",
        "url": f"https://x.circle-artifacts.com/0/file-{n}.txt",
        "size": n,
        "sha256": f"{n:064x}",
        "status": "complete",
        "project_slug": "gh/o/r",
        "pipeline_id": "p",
        "pipeline_number": 1,
        "workflow_id": "w",
        "workflow_name": "build",
        "job_number": 100 + n % 3,
        "job_name": "test",
        "node_index": 0,
        "artifact_path": f"file-{n}.txt",
    }
    values.update(changes)
    return ManifestRow(**values)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_rows_and_listings_come_back_after_a_reopen(tmp_path: Path) -> None:
    async with Manifest(tmp_path) as manifest:
        for n in range(10):
            manifest.record(_row(n))
        manifest.record(_row(4, status="failed", size=None, sha256=None, error="HTTP 500"))
        manifest.store_listing("jobs:w", b"[1,2,3]")
    async with Manifest(tmp_path) as manifest:
        job = await manifest.job_files("gh/o/r", 101)
        assert sorted(r.path for r in job) == sorted(_row(n).path for n in (1, 4, 7))
        assert next(r for r in job if r.path == _row(4).path).error == "HTTP 500"
        assert await manifest.listing("jobs:w") == b"[1,2,3]"
        assert await manifest.listing("jobs:other") is None
        rows = await manifest.rows()
    assert len(rows) == 10
    assert all(r.recorded_at.endswith("Z") for r in rows)
    assert [r.path for r in read_manifest(tmp_path)] == [r.path for r in rows]


@pytest.mark.anyio
async def test_a_file_found_complete_on_disk_is_recorded_with_its_size_and_hash(
    tmp_path: Path,
) -> None:
    data = os.urandom(3000)
    (tmp_path / "f.bin").write_bytes(data)
    async with Manifest(tmp_path) as manifest:
        manifest.record_hashing(_row(1, size=None, sha256=None), str(tmp_path / "f.bin"))
    (row,) = read_manifest(tmp_path)
    assert row.size == 3000
    assert row.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.anyio
async def test_read_only_reads_an_existing_manifest_and_never_creates_one(tmp_path: Path) -> None:
    async with Manifest(tmp_path / "none", read_only=True) as manifest:
        assert await manifest.rows() == []
        with pytest.raises(RuntimeError):
            manifest.record(_row(1))
    assert not (tmp_path / "none").exists()
    async with Manifest(tmp_path) as manifest:
        manifest.record(_row(1))
    async with Manifest(tmp_path, read_only=True) as manifest:
        assert [r.path for r in await manifest.rows()] == [_row(1).path]


@pytest.mark.anyio
async def test_an_unopenable_manifest_is_a_disk_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DiskError, match="cannot open the manifest"):
        async with Manifest(tmp_path / "file"):
            pass


_KILLED = """
import os, signal, sys, time
import anyio
sys.path.insert(0, {tests!r})
from test_manifest import _row
from aiocircleci._manifest import Manifest

async def main():
    async with Manifest({dest!r}, flush_interval=0.05) as manifest:
        for n in range(500):
            manifest.record(_row(n))
        await anyio.sleep(0.3)  # the flusher commits without being asked
        print("committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

anyio.run(main, backend="asyncio")
"""


def test_rows_committed_before_a_sigkill_survive_it(tmp_path: Path) -> None:
    script = _KILLED.format(tests=str(Path(__file__).parent), dest=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, timeout=60
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    assert done.stdout == b"committed\n"
    assert (tmp_path / f"{MANIFEST_NAME}-wal").exists()  # killed: no clean close happened
    rows = list(read_manifest(tmp_path))
    assert len(rows) == 500
    assert {r.path for r in rows} == {_row(n).path for n in range(500)}

    async def reopen_and_add() -> int:
        async with Manifest(tmp_path) as manifest:
            manifest.record(_row(999))
        return len(list(read_manifest(tmp_path)))

    assert anyio.run(reopen_and_add, backend="asyncio") == 501
