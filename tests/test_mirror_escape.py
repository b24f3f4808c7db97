"""The property "no write escapes DEST", for the mirror, with DEST already hostile.

Hypothesis picks hostile artifact paths and what stands in DEST before the run:
directories, and symlinks to a file or a directory outside DEST, planted at
files' final names, at directories on their way, and at their ``.part`` names.
Whatever it picks, nothing outside DEST changes, every file reported done is a
regular file inside DEST, and no planted thing counts as complete. (Symlinks at
``.part.meta`` names are the downloader's, covered where it is tested.)
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocircleci import Client, RetryPolicy
from aiocircleci.mirror import mirror_artifacts

from .conftest import _serve
from .test_download import _hostile_path

PIPELINE = "11111111-1111-4111-8111-111111111111"
WORKFLOW = "aaaaaaaa-0000-4000-8000-000000000001"
JOB_DIR = "gh/o/r/1/build-aaaaaaaa/test-7/0"
T0 = "2025-06-01T12:00:00.000Z"
PLAIN = ("a.txt", "d/b.txt", "d/e/c.txt")
PLANTS = ("dir", "link-file", "link-dir")
# Where a plant goes, relative to the job's node directory.
SPOTS = ("a.txt", "d/b.txt", "d", "d/e", "a.txt.part", "d/b.txt.part")


def _app(paths: list[str]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        base = f"http://{request.host}"
        if path == "/api/v2/project/gh/o/r/pipeline":
            pipeline = {
                "id": PIPELINE,
                "number": 1,
                "project_slug": "gh/o/r",
                "state": "created",
                "created_at": T0,
                "trigger": {"type": "webhook", "received_at": T0, "actor": {"login": "u"}},
            }
            return web.json_response({"items": [pipeline], "next_page_token": None})
        if path == f"/api/v2/pipeline/{PIPELINE}/workflow":
            workflow = {
                "id": WORKFLOW,
                "name": "build",
                "status": "success",
                "created_at": T0,
                "pipeline_id": PIPELINE,
                "pipeline_number": 1,
                "project_slug": "gh/o/r",
                "started_by": "u",
            }
            return web.json_response({"items": [workflow], "next_page_token": None})
        if path == f"/api/v2/workflow/{WORKFLOW}/job":
            job = {
                "id": "j7",
                "name": "test",
                "type": "build",
                "status": "success",
                "project_slug": "gh/o/r",
                "dependencies": [],
                "job_number": 7,
            }
            return web.json_response({"items": [job], "next_page_token": None})
        if path == "/api/v2/project/gh/o/r/7/artifacts":
            items = [
                {"path": p, "node_index": 0, "url": f"{base}/files/{i}"}
                for i, p in enumerate(paths)
            ]
            return web.json_response({"items": items, "next_page_token": None})
        if path.startswith("/files/"):
            return web.Response(body=b"payload " + path.encode())
        return web.json_response({"message": "Not found."}, status=404)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in sorted(root.rglob("*"))
    }


def _plant(dest: Path, outside: Path, spot: str, kind: str) -> None:
    where = dest / JOB_DIR / spot
    if os.path.lexists(where):
        return  # an earlier plant already stands there, or on its way
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return  # a symlink or file planted on the way: this one cannot go in
    if not where.parent.resolve().is_relative_to(dest.resolve()):
        return
    if kind == "dir":
        where.mkdir()
    elif kind == "link-file":
        where.symlink_to(outside / "secret.txt")
    else:
        where.symlink_to(outside / "elsewhere", target_is_directory=True)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hostile=st.lists(_hostile_path, max_size=3),
    plants=st.lists(st.tuples(st.sampled_from(SPOTS), st.sampled_from(PLANTS)), max_size=4),
)
def test_no_mirror_write_escapes_dest_whatever_already_stands_there(
    hostile: list[str], plants: list[tuple[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    sandbox = tmp_path_factory.mktemp("sandbox")
    dest = sandbox / "dest"
    outside = sandbox / "outside"
    (outside / "elsewhere").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"not yours")
    for spot, kind in plants:
        _plant(dest, outside, spot, kind)
    before = _snapshot(outside)
    paths = [*PLAIN, *hostile]

    async def main() -> tuple[int, int, int]:
        async with _serve(_app(paths)) as origin:
            async with Client(
                "t" * 40,
                base_url=origin + "/api/v2",
                artifact_hosts=(origin,),
                retry=RetryPolicy(max_attempts=1),
            ) as client:
                report = await mirror_artifacts(client, "gh/o/r", dest, workers=2, listers=2)
        assert not report.listing_failures
        return report.files_done, report.files_skipped, report.files_failed

    done, skipped, failed = anyio.run(main, backend="asyncio")
    assert done + skipped + failed == len(paths)
    assert skipped == 0  # nothing planted ever counts as complete
    # Nothing outside DEST changed, and nothing appeared beside DEST.
    assert _snapshot(outside) == before
    assert {p.name for p in sandbox.iterdir()} == {"dest", "outside"}
    # Every file written is a regular file whose real path is inside DEST.
    real_dest = dest.resolve()
    written = [
        p
        for p in dest.rglob("*")
        if p.is_file() and not p.is_symlink() and not p.name.startswith(".aiocircleci")
    ]
    for p in written:
        assert p.resolve().is_relative_to(real_dest)
    assert len([p for p in written if p.read_bytes().startswith(b"payload ")]) == done
