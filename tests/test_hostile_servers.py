"""Hostile and broken servers, over real sockets: what a user of the library and
of the CLI sees when a server bombs, streams forever, stalls, redirects to
nonsense, echoes the token, sends terminal escapes or smuggles a response.

Each CLI run is a child process; its peak RSS comes from ``wait4``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from aiohttp import web

from aiocircleci import (
    DEFAULT_MAX_BODY_SIZE,
    BadRequest,
    CircleCIError,
    Client,
    DownloadDone,
    Downloader,
    DownloadRequest,
    Limits,
    RedirectError,
    ResponseTooLarge,
    RetryPolicy,
    Timeout,
    TimeoutError,
)

from .conftest import ServeApp

MiB = 1024 * 1024
TOKEN = "hostile-test-token-0123456789abcdef"
FAST = RetryPolicy(backoff_base=0.01, backoff_cap=0.02, max_retry_after=0.05)
ME = "/api/v2/me"


def _gzip_bomb(inflated_mib: int = 1280) -> bytes:
    """A valid gzip body of about 1.3 MB that inflates to ``inflated_mib`` MiB of zeros.

    After a full flush the compressor starts afresh, so one compressed MiB can
    be repeated instead of compressing 1.25 GiB.
    """
    block = bytes(MiB)
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    piece = z.compress(block) + z.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(inflated_mib):
        crc = zlib.crc32(block, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    trailer = struct.pack("<II", crc, (inflated_mib * MiB) & 0xFFFFFFFF)
    return header + piece * inflated_mib + z.flush(zlib.Z_FINISH) + trailer


# The child reports its own high-water mark (VmHWM) as it exits. wait4's
# ru_maxrss would not do: Linux carries the parent's peak into a child at exec,
# so every child of a big test process would look as big as the test process.
_MEASURED = """
import atexit, runpy, sys

def _report(path=sys.argv[1]):
    with open("/proc/self/status") as status:
        hwm = next(line for line in status if line.startswith("VmHWM:"))
    with open(path, "w") as out:
        out.write(hwm.split()[1])

atexit.register(_report)
sys.argv = ["aiocircleci", *sys.argv[2:]]
runpy.run_module("aiocircleci", run_name="__main__", alter_sys=True)
"""


def _spawn_measured(
    args: list[str], env: dict[str, str], hwm: Path
) -> tuple[int, float, str, str, float]:
    """Exit code, peak RSS in MiB, stdout, stderr and seconds of one CLI run."""
    started = time.monotonic()
    argv = [sys.executable, "-c", _MEASURED, str(hwm), *args]
    done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    peak_mib = int(hwm.read_text()) / 1024
    elapsed = time.monotonic() - started
    return done.returncode, peak_mib, done.stdout.decode(), done.stderr.decode(), elapsed


async def _cli(base: str, *args: str, **extra_env: str) -> tuple[int, float, str, str, float]:
    """Run ``aiocircleci ARGS`` against ``base`` in a child; the event loop keeps serving."""
    env = {
        **os.environ,
        "CIRCLECI_BASE_URL": base + "/api/v2",
        "CIRCLE_TOKEN": TOKEN,
        **extra_env,
    }
    with tempfile.TemporaryDirectory() as tmp:
        hwm = Path(tmp) / "hwm"
        return await anyio.to_thread.run_sync(_spawn_measured, list(args), env, hwm)


def _one_clean_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    assert TOKEN not in text
    assert not any(ch in text for ch in "\x1b\x07\x9b\r")
    return lines[0]


def _app(path: str, handler: Any) -> web.Application:
    app = web.Application()
    app.router.add_get(path, handler)
    return app


async def _endless(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    block = b" " * (64 * 1024)  # JSON whitespace, forever
    with contextlib.suppress(ConnectionError):
        while True:
            await response.write(block)
    return response


async def _huge_page(request: web.Request) -> web.StreamResponse:
    # A 200 MB JSON page, announced as such.
    item = b'{"id":"5034460f-c7c4-4c43-9457-de07e2029e7b","number":1,"state":"created"},'
    count = 200 * 1000 * 1000 // len(item)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.content_length = len(b'{"items":[') + count * len(item) + len(b"{}]}")
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await response.write(b'{"items":[')
        batch = item * 1000
        for _ in range(count // 1000):
            await response.write(batch)
        await response.write(item * (count % 1000) + b"{}]}")
    return response


_BOMB: list[bytes] = []


async def _bomb(request: web.Request) -> web.Response:
    if not _BOMB:
        _BOMB.append(_gzip_bomb())
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    return web.Response(body=_BOMB[0], headers=headers)


# ---------------------------------------------------------------- bodies too large


@pytest.mark.anyio
@pytest.mark.parametrize(
    "handler",
    [_bomb, _endless, _huge_page],
    ids=["gzip-bomb-1.3MB-to-1.25GiB", "endless-chunked-body", "200MB-json-page"],
)
async def test_a_body_past_the_cap_is_one_line_and_memory_stays_under_100_mib(
    serve: ServeApp, handler: Any
) -> None:
    async with serve(_app(ME, handler)) as base:
        code, peak_mib, out, err, _ = await _cli(base, "me")
    line = _one_clean_line(err)
    assert code == 1
    assert "larger than the" in line
    assert "-byte limit" in line
    assert out == ""
    assert peak_mib < 100, f"peak RSS {peak_mib:.1f} MiB"


@pytest.mark.anyio
async def test_the_library_raises_response_too_large_for_a_gzip_bomb(serve: ServeApp) -> None:
    async with serve(_app(ME, _bomb)) as base:
        async with Client(TOKEN, base_url=base + "/api/v2", retry=FAST) as client:
            with pytest.raises(ResponseTooLarge) as caught:
                await client.me()
    assert caught.value.limit == DEFAULT_MAX_BODY_SIZE
    assert client.stats.retries == 0  # a too-large answer is not asked again


@pytest.mark.anyio
async def test_the_cap_is_configurable_and_counts_inflated_bytes(serve: ServeApp) -> None:
    body = b'{"id": "u", "login": "' + b"x" * 5000 + b'", "name": "n"}'

    async def small_gzip(request: web.Request) -> web.Response:
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return web.Response(body=zlib.compress(body, wbits=31), headers=headers)

    async with serve(_app(ME, small_gzip)) as base:
        # 5 KB inflated, well under 1 KB on the wire: the cap sees the 5 KB.
        tight = Limits(max_body_size=4096)
        async with Client(TOKEN, base_url=base + "/api/v2", limits=tight) as client:
            with pytest.raises(ResponseTooLarge):
                await client.me()
        roomy = Limits(max_body_size=8192)
        async with Client(TOKEN, base_url=base + "/api/v2", limits=roomy) as client:
            user = await client.me()
    assert user.login == "x" * 5000


# ---------------------------------------------------------------- a server that stalls


_STALLED: list[str] = []


async def _stall(request: web.Request) -> web.StreamResponse:
    _STALLED.append(request.path)
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    await response.write(b'{"id": ')
    await asyncio.Event().wait()  # headers and a few bytes, then nothing
    return response


@pytest.mark.anyio
async def test_a_stalled_server_gives_a_timeout_within_the_calls_deadline(
    serve: ServeApp,
) -> None:
    app = _app(ME, _stall)
    _STALLED.clear()
    timeout = Timeout(connect=1.0, read=0.2, total=0.7)
    async with serve(app) as base:
        async with Client(TOKEN, base_url=base + "/api/v2", retry=FAST, timeout=timeout) as c:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                await c.me()
            waited = time.monotonic() - started
    # Retried while the deadline allowed, then stopped at the deadline, not after
    # five full reads.
    assert len(_STALLED) >= 2
    assert 0.6 <= waited < 1.2


@pytest.mark.anyio
async def test_the_cli_reports_a_stalled_server_in_one_line_after_its_deadline(
    serve: ServeApp,
) -> None:
    app = _app(ME, _stall)
    async with serve(app) as base:
        code, _, out, err, elapsed = await _cli(
            base, "me", CIRCLECI_READ_TIMEOUT="0.3", CIRCLECI_TIMEOUT="1"
        )
    line = _one_clean_line(err)
    assert code == 1
    assert "deadline" in line or "timed out" in line
    assert out == ""
    assert elapsed < 6  # a second of deadline plus the interpreter's start-up


def test_the_default_timeouts_give_the_stalled_server_error_within_a_minute() -> None:
    t = Timeout()
    assert t.total is not None
    # The deadline covers every attempt and every backoff of a call...
    assert t.total <= 60
    # ...and still leaves room for more than one stalled read.
    assert t.connect + t.read < t.total
    assert 2 * t.read < t.total
    # Without the deadline, five 20-second reads would be 100 s.
    assert RetryPolicy().max_attempts * t.read > t.total


# ---------------------------------------------------------------- redirects


@pytest.mark.anyio
async def test_a_redirect_to_an_impossible_port_is_a_typed_error_and_one_cli_line(
    serve: ServeApp,
) -> None:
    async def redirect(request: web.Request) -> web.Response:  # aiohttp.web refuses to build it
        return web.Response(status=302, headers={"Location": "http://127.0.0.1:99999/api/v2/me"})

    async with serve(_app(ME, redirect)) as base:
        async with Client(TOKEN, base_url=base + "/api/v2", retry=FAST) as client:
            with pytest.raises(RedirectError):
                await client.me()
        code, _, out, err, _ = await _cli(base, "me")
    line = _one_clean_line(err)
    assert code == 1
    assert "redirected to an invalid URL (GET http://127.0.0.1:" in line
    assert "ValueError" not in line


# ---------------------------------------------------------------- token and escapes


@pytest.mark.anyio
async def test_a_token_echoed_in_an_error_body_never_reaches_stderr_or_the_exception(
    serve: ServeApp,
) -> None:
    async def echo(request: web.Request) -> web.Response:
        sent = request.headers.get("Circle-Token", "")
        return web.json_response({"message": f"token {sent} is not valid here"}, status=400)

    async with serve(_app(ME, echo)) as base:
        async with Client(TOKEN, base_url=base + "/api/v2", retry=FAST) as client:
            with pytest.raises(BadRequest) as caught:
                await client.me()
        code, _, out, err, _ = await _cli(base, "me")
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(caught.value)
    assert "token **** is not valid" in caught.value.message
    line = _one_clean_line(err)
    assert code == 2
    assert "****" in line


@pytest.mark.anyio
async def test_a_token_echoed_in_a_successful_answer_is_redacted_on_stdout(
    serve: ServeApp,
) -> None:
    async def me(request: web.Request) -> web.Response:
        sent = request.headers.get("Circle-Token", "")
        return web.json_response({"id": "u1", "login": sent, "name": "echo"})

    async with serve(_app(ME, me)) as base:
        code, _, out, err, _ = await _cli(base, "me")
    assert code == 0, err
    assert TOKEN not in out + err
    assert out.startswith("**** (echo)")


@pytest.mark.anyio
async def test_escape_sequences_from_a_server_print_as_text_in_me_and_in_error_lines(
    serve: ServeApp,
) -> None:
    hostile = "\x1b]0;owned\x07\x1b[2J\x1b[H\x9b31m"

    async def me(request: web.Request) -> web.Response:
        return web.json_response({"id": hostile, "login": "a" + hostile, "name": hostile})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response({"message": "gone" + hostile}, status=404)

    async with serve(_app(ME, me)) as base:
        code, _, out, err, _ = await _cli(base, "me")
    assert code == 0, err
    line = _one_clean_line(out)
    assert line.startswith("a\\x1b]0;owned\\x07\\x1b[2J")
    async with serve(_app(ME, missing)) as base:
        code, _, out, err, _ = await _cli(base, "me")
    line = _one_clean_line(err)
    assert code == 2
    assert "gone\\x1b]0;owned" in line


# ---------------------------------------------------------------- response smuggling


@contextlib.asynccontextmanager
async def _smuggler(delay: float) -> AsyncIterator[tuple[str, list[str]]]:
    """A raw HTTP server: ``/a`` answers, then sends a second, unasked response
    (after ``delay`` seconds); every other path answers ``good!``. Yields the
    base URL and the list of connections (one entry per accepted socket)."""
    connections: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append("open")
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1]
                if path.endswith(b"/a"):
                    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"hello"')
                    await writer.drain()
                    if delay:
                        await asyncio.sleep(delay)
                    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"EVIL!"')
                else:
                    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"good!"')
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", connections
    finally:
        server.close()
        with anyio.move_on_after(1):
            await server.wait_closed()


@pytest.mark.anyio
@pytest.mark.parametrize("delay", [0.0, 0.05], ids=["same-segment", "after-the-body"])
async def test_a_smuggled_response_never_becomes_the_next_files_content(
    tmp_path: Path, delay: float
) -> None:
    async with _smuggler(delay) as (base, connections):
        # One worker, one connection pool: /b would reuse /a's connection if anything did.
        async with Downloader(tmp_path, workers=1) as dl:
            first_done = anyio.Event()
            dl.subscribe(lambda e: first_done.set() if isinstance(e, DownloadDone) else None)
            await dl.submit(DownloadRequest(base + "/a", "a"))
            await first_done.wait()
            await anyio.sleep(0.1)  # the unasked response now waits on the idle connection
            await dl.submit(DownloadRequest(base + "/b", "b"))
    assert dl.report.ok
    assert (tmp_path / "a").read_bytes() == b'"hello"'
    assert (tmp_path / "b").read_bytes() == b'"good!"'
    # The connection that carried the extra response served nothing else.
    assert len(connections) == 2


@pytest.mark.anyio
async def test_api_calls_on_one_client_never_read_a_smuggled_response() -> None:
    async with _smuggler(0.05) as (base, connections):
        async with Client(TOKEN, base_url=base, retry=FAST) as client:
            first = await client.request("GET", "/a", type=str)
            await anyio.sleep(0.1)
            second = await client.request("GET", "/b", type=str)
    assert (first, second) == ("hello", "good!")
    assert len(connections) == 2


def test_hostile_bodies_are_bounded_by_default() -> None:
    assert DEFAULT_MAX_BODY_SIZE <= 64 * MiB
    assert isinstance(ResponseTooLarge("x"), CircleCIError)
