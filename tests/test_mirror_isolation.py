"""One hostile entry fails alone: it is listed, the rest is mirrored, the exit code is 1.

A hand-made API on 127.0.0.1 serves what the emulator never generates: a
pipeline whose ``project_slug`` does not parse, and an artifact URL with port
99999. The CLI runs as a user runs it, in a subprocess.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from aiocircleci._manifest import read_manifest

from .conftest import ServeApp

GOOD = "11111111-1111-4111-8111-111111111111"
BAD = "22222222-2222-4222-8222-222222222222"
WORKFLOW = "aaaaaaaa-0000-4000-8000-000000000001"
T0 = "2025-06-01T12:00:00.000Z"


def _pipeline(pid: str, number: int, slug: str) -> dict[str, object]:
    return {
        "id": pid,
        "number": number,
        "project_slug": slug,
        "state": "created",
        "created_at": T0,
        "trigger": {"type": "webhook", "received_at": T0, "actor": {"login": "u"}},
    }


def _app(requests: Counter[str]) -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        path = request.path
        requests[path] += 1
        base = f"http://{request.host}"
        if path == "/api/v2/me":
            return web.json_response({"id": "u1", "login": "u", "name": "U"})
        if path == "/api/v2/pipeline":
            items = [_pipeline(BAD, 2, "no-slashes-here"), _pipeline(GOOD, 1, "gh/o/r")]
            return web.json_response({"items": items, "next_page_token": None})
        if path == f"/api/v2/pipeline/{GOOD}/workflow":
            workflow = {
                "id": WORKFLOW,
                "name": "build",
                "status": "success",
                "created_at": T0,
                "pipeline_id": GOOD,
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
                {"path": "a.txt", "node_index": 0, "url": f"{base}/files/a.txt"},
                {"path": "port.txt", "node_index": 0, "url": "http://127.0.0.1:99999/port.txt"},
                {"path": "b.txt", "node_index": 0, "url": f"{base}/files/b.txt"},
            ]
            return web.json_response({"items": items, "next_page_token": None})
        if path.startswith("/files/"):
            return web.Response(body=path.encode() * 10)
        return web.json_response({"message": "Not found."}, status=404)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    return app


@pytest.mark.anyio
async def test_a_pipeline_with_a_bad_slug_and_a_url_with_port_99999_fail_alone(
    tmp_path: Path, serve: ServeApp
) -> None:
    requests: Counter[str] = Counter()
    dest = tmp_path / "m"
    async with serve(_app(requests)) as origin:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLE")}
        env.update(
            CIRCLECI_BASE_URL=origin + "/api/v2",
            CIRCLE_TOKEN="t" * 40,
            CIRCLECI_ARTIFACT_HOSTS=origin,
        )
        argv = [sys.executable, "-m", "aiocircleci", "--json", "mirror", "--org", "gh/o"]
        done = await anyio.run_process(
            [*argv, "--dest", str(dest), "--api-rate", "1000"], env=env, check=False
        )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err
    body = json.loads(done.stdout)
    job = "gh/o/r/1/build-aaaaaaaa/test-7/0"
    assert {f["path"]: f["error"] for f in body["failed"]} == {
        f"{job}/port.txt": "the artifact URL is not valid: Port out of range 0-65535"
    }
    (listing,) = body["listing_failures"]
    assert listing["what"] == f"pipeline #2 ({BAD})"
    assert "'no-slashes-here' does not parse" in listing["error"]
    # The good files are there, byte for byte, and recorded.
    assert (dest / job / "a.txt").read_bytes() == b"/files/a.txt" * 10
    assert (dest / job / "b.txt").read_bytes() == b"/files/b.txt" * 10
    complete = {r.path for r in read_manifest(dest) if r.complete}
    assert complete == {f"{job}/a.txt", f"{job}/b.txt"}
    assert not any(BAD in path for path in requests)  # nothing listed for the odd pipeline
