"""One bad entry fails alone in the downloader: it is listed, the rest arrives, the exit code is 1.

A small app on 127.0.0.1 serves what a well-behaved storage never does: a
redirect to port 99999, and 206 answers whose Content-Range holds a non-ASCII
digit (``int()`` accepts ``"٠"``; ``"²"`` passes ``isdigit()`` and crashes
``int()``). The library and the CLI are judged by what a user sees: the good
files on disk, byte for byte, the bad ones listed with a reason, the exit code.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from aiocircleci.download import DownloadRequest, download_all

from .conftest import ServeApp

GOOD = {"good/a.txt": b"a" * 1000, "good/b.bin": os.urandom(300_000)}
BAD_PATHS = ("bad/redirect", "bad/arabic", "bad/superscript", "bad/unit")


def _app() -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        name = request.path.lstrip("/")
        if name in GOOD:
            return web.Response(body=GOOD[name])
        if name == "bad/redirect":
            # Set by hand: aiohttp's HTTPFound would refuse this Location itself.
            return web.Response(status=302, headers={"Location": "http://127.0.0.1:99999/x"})
        ranges = {
            "bad/arabic": "bytes \u0660-9/10",
            "bad/superscript": "bytes 0-9/1\u00b2",
            "bad/unit": "pages 0-9/10",
        }
        if name in ranges:
            return web.Response(
                status=206, body=b"0123456789", headers={"Content-Range": ranges[name]}
            )
        return web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def _check_good(dest: Path) -> None:
    for rel, body in GOOD.items():
        assert (dest / rel).read_bytes() == body
    # Nothing of the bad entries got a final name.
    for rel in BAD_PATHS:
        assert not (dest / rel).exists()


@pytest.mark.anyio
async def test_each_hostile_entry_fails_alone_in_the_library(
    serve: ServeApp, tmp_path: Path
) -> None:
    async with serve(_app()) as base:
        requests = [DownloadRequest(f"{base}/{p}", p) for p in (*GOOD, *BAD_PATHS)]
        requests.append(DownloadRequest("http://127.0.0.1:99999/port.txt", "bad/port.txt"))
        report = await download_all(requests, tmp_path, workers=3)
    assert report.files_done == len(GOOD)
    reasons = {r.path: r.reason for r in report.failed}
    assert set(reasons) == {*BAD_PATHS, "bad/port.txt"}
    assert "redirected to an invalid URL" in reasons["bad/redirect"]
    assert "Content-Range" in reasons["bad/arabic"]
    assert "Content-Range" in reasons["bad/superscript"]
    assert "Content-Range" in reasons["bad/unit"]
    _check_good(tmp_path)


@pytest.mark.anyio
async def test_each_hostile_entry_fails_alone_in_the_cli(serve: ServeApp, tmp_path: Path) -> None:
    dest = tmp_path / "d"
    async with serve(_app()) as base:
        lines = [f"{base}/{p}" for p in (*GOOD, *BAD_PATHS)]
        lines.insert(1, "http://127.0.0.1:99999/bad/port.txt")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLE")}
        argv = [sys.executable, "-m", "aiocircleci", "--json", "download", "-i", "-"]
        done = await anyio.run_process(
            [*argv, "--dest", str(dest)],
            input="\n".join(lines).encode(),
            env=env,
            check=False,
        )
    err = done.stderr.decode()
    assert done.returncode == 1, err
    assert "Traceback" not in err
    body = json.loads(done.stdout)
    assert sorted(f["path"] for f in body["done"]) == sorted(GOOD)
    failed = {
        f["url"].rsplit("/", 2)[-2] + "/" + f["url"].rsplit("/", 1)[-1] for f in body["failed"]
    }
    assert failed == {*BAD_PATHS, "bad/port.txt"}
    assert all(f["error"] for f in body["failed"])
    _check_good(dest)
