"""``Downloader(processes=N)`` and ``aiocircleci download --processes N``: worker processes.

A small aiohttp app on 127.0.0.1 serves files and, while told to, stalls every
response halfway (headers and the first 300 KiB sent, then nothing). With
``workers=4`` split over two processes, four stalled responses mean both
processes hold downloads; then a process is killed with SIGKILL, the stall is lifted and
what a user would see is checked: every file complete and byte-identical to a
clean download, no ``.part`` left, no worker process surviving its parent, the
token in no process's argument list.
"""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import msgspec
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiocircleci import Token
from aiocircleci._auth import OriginPolicy
from aiocircleci._lock import LOCK_NAME
from aiocircleci.download import (
    DownloadDone,
    Downloader,
    DownloadEvent,
    DownloadProgress,
    DownloadQueued,
    DownloadReport,
    DownloadRequest,
    DownloadStarted,
    FileStatus,
)
from aiocircleci.download._wire import (
    WireError,
    error_from_wire,
    error_to_wire,
    policy_from_wire,
    policy_to_wire,
)
from aiocircleci.errors import (
    ChecksumMismatch,
    CircleCIError,
    DiskError,
    NotFound,
    RateLimited,
    TokenNotSent,
)

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc; the death signal is Linux's"
)

KiB = 1024
SIZE = 600 * KiB  # more than one 256 KiB write: a stalled download leaves a .part on disk
HALF = 300 * KiB
COUNT = 10
TOKEN = "tok-processes-0123456789abcdef"
CHILD_MARK = b"aiocircleci.download._child"


class StallServer:
    """Serves ``root``'s files; while ``stall`` is set, every response stops halfway."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.stall = True
        self.release = anyio.Event()
        self.stalled = 0
        self.log: list[tuple[str, str | None, str | None]] = []  # name, Range, token

    async def handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = self.root / name
        self.log.append((name, request.headers.get("Range"), request.headers.get("Circle-Token")))
        if not self.stall:
            return web.FileResponse(path)
        st = path.stat()
        body = path.read_bytes()
        # The validator FileResponse will give: a later run may resume with If-Range.
        headers = {
            "Content-Length": str(len(body)),
            "ETag": f'"{st.st_mtime_ns:x}-{st.st_size:x}"',
            "Accept-Ranges": "bytes",
        }
        response = web.StreamResponse(headers=headers)
        await response.prepare(request)
        await response.write(body[:HALF])
        self.stalled += 1
        await self.release.wait()
        await response.write(body[HALF:])
        return response

    def unstall(self) -> None:
        self.stall = False
        self.release.set()


@asynccontextmanager
async def stall_server(root: Path) -> AsyncIterator[tuple[StallServer, str]]:
    server = StallServer(root)
    app = web.Application()
    app.router.add_get("/files/{name}", server.handle)
    test_server = TestServer(app, host="127.0.0.1", port=0)
    await test_server.start_server()
    try:
        yield server, str(test_server.make_url("")).rstrip("/")
    finally:
        server.unstall()
        await test_server.close()


def _corpus(root: Path) -> list[str]:
    rng = random.Random(12)
    names = [f"f{i:02d}.bin" for i in range(COUNT)]
    for name in names:
        (root / name).write_bytes(rng.randbytes(SIZE))
    return names


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name may hold spaces: the fields follow the last ')'.
    return stat[stat.rindex(b")") + 2 :].split()


def _proc_file(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


def _alive(pid: int) -> bool:
    fields = _stat_fields(pid)
    return fields is not None and fields[0] != b"Z"


def _worker_children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is None or int(fields[1]) != parent or fields[0] == b"Z":
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if CHILD_MARK in cmdline:
            found.append(int(entry))
    return found


async def _until(condition: Callable[[], bool], limit: float = 30.0) -> None:
    """Poll ``condition()`` every 20 ms: another process's state has no event to wait on."""
    with anyio.fail_after(limit):
        while not condition():  # noqa: ASYNC110 - see the docstring
            await anyio.sleep(0.02)


def _parts_on_disk(dest: Path, count: int) -> bool:
    parts = [p for p in dest.rglob("*.part") if p.stat().st_size >= 256 * KiB]
    return len(parts) >= count


def _policy(base: str) -> OriginPolicy:
    return OriginPolicy([base])


# -- the library


@pytest.mark.anyio
async def test_a_worker_killed_mid_run_loses_no_file_and_the_results_match_one_process(
    tmp_path: Path,
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    names = _corpus(www)
    async with stall_server(www) as (server, base):
        requests = [DownloadRequest(f"{base}/files/{n}", f"out/{n}") for n in names]
        events: list[DownloadEvent] = []
        dest = tmp_path / "procs"
        async with Downloader(
            dest,
            token=Token(TOKEN),
            policy=_policy(base),
            workers=4,
            processes=2,
            segments=None,
            subscribers=[events.append],
        ) as dl:

            async def submit_all() -> None:
                for request in requests:
                    await dl.submit(request)
                await dl.close_input()

            async with anyio.create_task_group() as tg:
                tg.start_soon(submit_all)
                # Two stalled downloads per process: the worker holds two files.
                await _until(lambda: server.stalled >= 4)
                await _until(lambda: _parts_on_disk(dest, 4))
                children = _worker_children(os.getpid())
                assert len(children) == 1
                os.kill(children[0], signal.SIGKILL)
                await _until(lambda: not _alive(children[0]))
                killed_at = len(server.log)
                server.unstall()
        procs = dl.report
        # The two files the worker held were resumed where its .part files stopped
        # (in a directory this process made, where the worker wrote too).
        ranges = [range_ for _, range_, _ in server.log[killed_at:] if range_ is not None]
        assert len(ranges) == 2, ranges
        starts = [int(r.removeprefix("bytes=").removesuffix("-")) for r in ranges]
        assert all(256 * KiB <= start <= HALF for start in starts), ranges

        server.log.clear()
        one = await _download_one_process(tmp_path / "one", requests, base)

    assert procs.processes_lost == 1
    assert procs.ok
    assert one.ok
    assert procs.files_done == one.files_done == COUNT
    by_path = {r.path: (r.status, r.size, r.sha256) for r in procs.done}
    assert by_path == {r.path: (r.status, r.size, r.sha256) for r in one.done}
    assert all(status is FileStatus.DONE for status, _, _ in by_path.values())
    expected = {f"out/{n}": (www / n).read_bytes() for n in names}
    assert _tree(dest) == expected == _tree(tmp_path / "one")
    assert not list(dest.rglob("*.part*"))
    # Every file is reported once, as done, to the subscribers too.
    finished = [e.result.path for e in events if isinstance(e, DownloadDone)]
    assert sorted(finished) == sorted(expected)
    assert not _worker_children(os.getpid())


async def _download_one_process(
    dest: Path, requests: list[DownloadRequest], base: str
) -> DownloadReport:
    async with Downloader(
        dest, token=Token(TOKEN), policy=_policy(base), workers=2, segments=None
    ) as dl:
        for request in requests:
            await dl.submit(request)
    return dl.report


@pytest.mark.anyio
async def test_a_worker_process_reports_the_same_events_and_bytes_as_local_workers(
    tmp_path: Path,
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    names = _corpus(www)
    events: list[DownloadEvent] = []
    async with stall_server(www) as (server, base):
        dest = tmp_path / "out"
        async with Downloader(
            dest, workers=4, processes=2, segments=None, subscribers=[events.append]
        ) as dl:

            async def submit_all() -> None:
                for name in names:
                    await dl.submit(DownloadRequest(f"{base}/files/{name}", name))

            async with anyio.create_task_group() as tg:
                tg.start_soon(submit_all)
                # Both processes hold two files each before any file may finish.
                await _until(lambda: server.stalled >= 4)
                server.unstall()
    report = dl.report
    assert report.ok
    assert report.files_done == COUNT
    assert report.processes_lost == 0
    assert report.bytes == COUNT * SIZE
    assert _tree(dest) == {n: (www / n).read_bytes() for n in names}
    for name in names:
        mine = [e for e in events if getattr(e, "path", None) == name]
        started = [e for e in mine if isinstance(e, DownloadStarted)]
        assert [(e.total, e.offset) for e in started] == [(SIZE, 0)]
        assert sum(e.delta for e in mine if isinstance(e, DownloadProgress)) == SIZE
        done = [e.result for e in events if isinstance(e, DownloadDone) and e.result.path == name]
        assert len(done) == 1
        assert done[0].sha256 == hashlib.sha256((www / name).read_bytes()).hexdigest()
    assert sum(isinstance(e, DownloadQueued) for e in events) == COUNT


def test_settings_that_cannot_cross_a_process_are_refused_with_processes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="in_flight"):
        Downloader(tmp_path, processes=2, in_flight=anyio.CapacityLimiter(2))
    with pytest.raises(ValueError, match="clock"):
        Downloader(tmp_path, processes=2, clock=lambda: 0.0)
    with pytest.raises(ValueError, match="processes"):
        Downloader(tmp_path, processes=0)
    # One process keeps every setting, as before.
    Downloader(tmp_path, processes=1, in_flight=anyio.CapacityLimiter(2), clock=lambda: 0.0)


@pytest.mark.parametrize(
    "error",
    [
        NotFound(404, "Not Found", method="GET", url="https://a.example/x"),
        RateLimited(429, "slow down", url="https://a.example/y", retry_after=2.5),
        TokenNotSent("https://b.example", url="https://b.example/z"),
        ChecksumMismatch("the sha256 differs", url="https://a.example/w", path="a/w"),
        DiskError("cannot write a/b: No space left on device", path="a/b"),
    ],
)
def test_an_error_crosses_the_pipe_as_the_same_class_with_its_fields(error: Exception) -> None:
    assert isinstance(error, CircleCIError)
    wire = msgspec.msgpack.decode(msgspec.msgpack.encode(error_to_wire(error)), type=WireError)
    rebuilt = error_from_wire(wire)
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    assert vars(rebuilt) == vars(error)


def test_the_token_policy_crosses_the_pipe_unchanged() -> None:
    policy = OriginPolicy.for_hosts(
        "https://circleci.com/api/v2", ["http://127.0.0.1:8081", "http://[::1]:9000", "*.x.com"]
    )
    rebuilt = policy_from_wire(*policy_to_wire(policy))
    for url in [
        "https://circleci.com/api/v2/me",
        "http://127.0.0.1:8081/a",
        "http://127.0.0.1:8082/a",
        "http://[::1]:9000/b",
        "https://a.x.com/c",
        "http://a.x.com/c",
        "https://evil.example/",
    ]:
        assert rebuilt.allows(url) == policy.allows(url), url


# -- the command line


def _cli_argv(listing: Path, dest: Path, base: str, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "aiocircleci",
        "-q",
        "download",
        "-i",
        str(listing),
        "--dest",
        str(dest),
        "-j",
        "4",
        "--artifact-host",
        base,
        "--no-segments",
        *extra,
    ]


def _cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CIRCLE_TOKEN", "CIRCLECI_TOKEN")}
    return {**env, "CIRCLE_TOKEN": TOKEN}


@pytest.mark.anyio
async def test_kill_9_of_the_cli_takes_its_workers_along_and_a_rerun_matches_a_clean_download(
    tmp_path: Path,
) -> None:
    www = tmp_path / "www"
    www.mkdir()
    names = _corpus(www)
    async with stall_server(www) as (server, base):
        listing = tmp_path / "urls.txt"
        listing.write_text("".join(f"{base}/files/{n}\n" for n in names))
        dest = tmp_path / "dest"
        argv = _cli_argv(listing, dest, base, "--processes", "2")
        cli = await anyio.open_process(argv, env=_cli_env(), stdout=None, stderr=None)
        try:
            await _until(lambda: server.stalled >= 4)
            await _until(lambda: _parts_on_disk(dest, 4))
            workers = _worker_children(cli.pid)
            assert len(workers) == 1
            # The token reached the worker through its stdin, not argv or the environment.
            for pid in (cli.pid, *workers):
                assert TOKEN.encode() not in _proc_file(pid, "cmdline")
            assert TOKEN.encode() not in _proc_file(workers[0], "environ")
            assert [token for _, _, token in server.log] == [TOKEN] * len(server.log)
            cli.kill()
            await cli.wait()
            # The worker dies with its parent: nothing keeps writing into DEST.
            await _until(lambda: not _alive(workers[0]), limit=5)
        finally:
            if cli.returncode is None:
                cli.kill()
            await cli.aclose()
        assert list(dest.rglob("*.part"))
        server.unstall()
        server.log.clear()

        rerun = await anyio.run_process(argv, env=_cli_env(), check=False)
        assert rerun.returncode == 0, rerun.stderr.decode()
        # The killed run's .part files were resumed, not fetched again from byte 0.
        assert any(range_ is not None for _, range_, _ in server.log)

        clean = tmp_path / "clean"
        one = await anyio.run_process(
            _cli_argv(listing, clean, base, "--processes", "1"), env=_cli_env(), check=False
        )
        assert one.returncode == 0, one.stderr.decode()

    assert _tree(dest) == _tree(clean) == {f"files/{n}": (www / n).read_bytes() for n in names}
    assert not [p for p in dest.rglob("*") if ".part" in p.name]


@pytest.mark.anyio
async def test_processes_below_one_is_one_clear_line_and_exit_2(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("http://127.0.0.1:9/a\n")
    argv = _cli_argv(listing, tmp_path / "dest", "http://127.0.0.1:9", "--processes", "0")
    done = await anyio.run_process(argv, env=_cli_env(), check=False)
    assert done.returncode == 2
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1
    assert "--processes must be at least 1" in lines[0]
    assert not (tmp_path / "dest").exists()


@pytest.mark.anyio
async def test_a_list_the_parents_workers_absorb_starts_no_worker_process(
    tmp_path: Path,
) -> None:
    # Two large files and four local workers: an interpreter's start-up would buy nothing.
    www = tmp_path / "www"
    www.mkdir()
    names = _corpus(www)[:2]
    async with stall_server(www) as (server, base):
        dest = tmp_path / "out"
        async with Downloader(dest, workers=8, processes=2, segments=None) as dl:
            for name in names:
                await dl.submit(DownloadRequest(f"{base}/files/{name}", name))
            await _until(lambda: server.stalled >= 2)
            assert not _worker_children(os.getpid())
            server.unstall()
    assert dl.report.files_done == 2
    assert _tree(dest) == {n: (www / n).read_bytes() for n in names}
    assert not _worker_children(os.getpid())
