"""A ``.part`` belongs to the run writing it: a live run's is never adopted, a dead run's is.

The issue's scenario: two runs on one DEST, one killed mid-file. The neighbour
is a real process that the test SIGKILLs while its ``.part`` holds half the
file. Judged from the filesystem, the server and the exit codes: never a
published file with bytes that are not the server's, never a wrong sha256,
and the resumed run asks only for the bytes the dead run did not write.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from anyio.abc import Process

from aiocircleci.download import DownloadRequest, PartInUse, download_all

from .conftest import _serve

BODY = os.urandom(2_000_000)
SHA = hashlib.sha256(BODY).hexdigest()
ETAG = '"v1"'
SENT_FIRST = 700_000  # more than a chunk: it reaches the .part before the stall

_NEIGHBOUR = """
import sys, anyio
from aiocircleci.download import DownloadRequest, download_all
async def main():
    await download_all([DownloadRequest(sys.argv[1], "f.bin")], sys.argv[2])
anyio.run(main, backend="asyncio")
"""


class _Storage:
    """Serves BODY with ranges; the first request stalls after SENT_FIRST bytes, forever."""

    def __init__(self) -> None:
        self.ranges: list[str | None] = []
        self.release = anyio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.ranges.append(request.headers.get("Range"))
        headers = {"ETag": ETAG, "Accept-Ranges": "bytes"}
        spec = request.headers.get("Range", "")
        if len(self.ranges) == 1:
            response = web.StreamResponse(headers=headers)
            response.content_length = len(BODY)
            await response.prepare(request)
            await response.write(BODY[:SENT_FIRST])
            await self.release.wait()  # the neighbour stalls mid-file until it dies
            return response
        if spec.startswith("bytes=") and request.headers.get("If-Range") in (None, ETAG):
            start = int(spec[6:].rstrip("-"))
            headers["Content-Range"] = f"bytes {start}-{len(BODY) - 1}/{len(BODY)}"
            return web.Response(status=206, body=BODY[start:], headers=headers)
        return web.Response(body=BODY, headers=headers)


@asynccontextmanager
async def _storage() -> AsyncIterator[tuple[_Storage, str]]:
    storage = _Storage()
    app = web.Application()
    app.router.add_get("/f.bin", storage.handle)
    async with _serve(app) as base:
        try:
            yield storage, f"{base}/f.bin"
        finally:
            storage.release.set()


async def _wait_for_part(dest: Path) -> None:
    part, meta = dest / "f.bin.part", dest / "f.bin.part.meta"
    for _ in range(1000):  # 20 s at most
        if meta.exists() and part.exists() and part.stat().st_size >= SENT_FIRST // 2:
            return
        await anyio.sleep(0.02)
    raise AssertionError("the neighbour never wrote its .part")


async def _kill(process: Process) -> None:
    process.send_signal(signal.SIGKILL)
    with anyio.fail_after(10):
        assert await process.wait() == -signal.SIGKILL


@pytest.mark.anyio
async def test_a_live_runs_part_is_never_adopted_and_a_killed_runs_part_is_resumed(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "d"
    async with _storage() as (storage, url):
        neighbour = await anyio.open_process([sys.executable, "-c", _NEIGHBOUR, url, str(dest)])
        try:
            await _wait_for_part(dest)
            owner = json.loads((dest / "f.bin.part.meta").read_text())["run"]
            written = (dest / "f.bin.part").read_bytes()
            # A second run while the neighbour lives: that file fails, nothing is touched.
            report = await download_all([DownloadRequest(url, "f.bin")], dest)
            (failed,) = report.failed
            assert isinstance(failed.error, PartInUse)
            assert owner in failed.reason
            assert not (dest / "f.bin").exists()
            assert (dest / "f.bin.part").read_bytes() == written
            assert written == BODY[: len(written)]
            assert len(storage.ranges) == 1  # it never even asked the server
        finally:
            await _kill(neighbour)
        # The owner is dead: the next run adopts its bytes and asks only for the rest.
        report = await download_all([DownloadRequest(url, "f.bin", sha256=SHA)], dest)
    assert report.ok, report.failed
    assert (dest / "f.bin").read_bytes() == BODY
    (done,) = report.done
    assert done.sha256 == SHA
    assert storage.ranges[1:] == [f"bytes={len(written)}-"]
    assert sorted(p.name for p in dest.iterdir()) == ["f.bin"]


@pytest.mark.anyio
async def test_cli_runs_on_one_dest_are_refused_or_wait_and_a_killed_neighbour_corrupts_nothing(
    tmp_path: Path,
) -> None:
    dest = tmp_path / "d"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLE")}
    async with _storage() as (storage, url):
        listing = tmp_path / "urls.txt"
        listing.write_text(url + "\n")
        argv = [sys.executable, "-m", "aiocircleci", "--json", "download", "-i", str(listing)]
        argv += ["--dest", str(dest)]
        neighbour = await anyio.open_process(argv, env=env)
        try:
            await _wait_for_part(dest)
            # Refused: one line naming the holder, exit 2, nothing asked, nothing touched.
            refused = await anyio.run_process(argv, env=env, check=False)
            assert refused.returncode == 2
            assert f"pid {neighbour.pid}" in refused.stderr.decode()
            assert len(storage.ranges) == 1
            # Waiting: it starts once the neighbour is gone, and finishes its file.
            async with await anyio.open_process([*argv, "--wait-lock"], env=env) as waiting:
                await anyio.sleep(0.3)
                assert waiting.returncode is None
                assert len(storage.ranges) == 1
                await _kill(neighbour)
                assert waiting.stdout is not None
                out = b""
                with anyio.fail_after(30):
                    async for block in waiting.stdout:
                        out += block
                    code = await waiting.wait()
        finally:
            if neighbour.returncode is None:
                await _kill(neighbour)
    assert code == 0
    body = json.loads(out)
    assert [(f["path"], f["sha256"]) for f in body["done"]] == [("f.bin", SHA)]
    assert (dest / "f.bin").read_bytes() == BODY
    assert (storage.ranges[1] or "").startswith("bytes=")  # it resumed the dead run's .part
    assert not [p for p in dest.iterdir() if p.name.startswith("f.bin.")]
