"""The download pipeline against small aiohttp.web servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocircleci import DiskError, RetryPolicy, Token
from aiocircleci._auth import OriginPolicy
from aiocircleci.download import (
    DownloadDone,
    Downloader,
    DownloadEvent,
    DownloadProgress,
    DownloadQueued,
    DownloadRequest,
    DownloadStarted,
    download_all,
    nofollow_opener,
)
from aiocircleci.errors import ChecksumMismatch, UnsafePath

from .conftest import ServeApp

FAST_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_cap=0.01)
BODY = os.urandom(700_000)  # larger than a chunk, so it streams through a .part file
SMALL = os.urandom(5_000)
ETAG = '"v1"'


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _ranged(request: web.Request, data: bytes, *, honour_range: bool = True) -> web.Response:
    """200, or 206 for ``Range: bytes=N-`` when ``If-Range`` (if any) matches."""
    headers = {"ETag": ETAG, "Accept-Ranges": "bytes"}
    spec = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range")
    if honour_range and spec.startswith("bytes=") and if_range in (None, ETAG):
        start = int(spec[6:].rstrip("-"))
        headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return web.Response(status=206, body=data[start:], headers=headers)
    return web.Response(body=data, headers=headers)


def _files_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.anyio
async def test_files_arrive_byte_exact_with_their_sha256_in_the_report(
    serve: ServeApp, tmp_path: Path
) -> None:
    bodies = {f"/a/{i}.bin": os.urandom(i * 1000 + 1) for i in range(20)} | {"/big.bin": BODY}

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=bodies[request.path])

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    async with serve(app) as base:
        report = await download_all(
            [DownloadRequest(base + p, p) for p in bodies], tmp_path, workers=4
        )
    assert report.ok
    assert report.files_done == len(bodies)
    assert report.bytes == sum(len(b) for b in bodies.values())
    for result in report.done:
        data = bodies[result.request.path]
        assert (tmp_path / result.path).read_bytes() == data
        assert result.sha256 == _sha(data)
        assert result.size == len(data)
    assert not [p for p in _files_under(tmp_path) if p.endswith((".part", ".meta"))]


@pytest.mark.anyio
async def test_200_answer_to_range_request_restarts_from_zero(
    serve: ServeApp, tmp_path: Path
) -> None:
    # A .part from an earlier run, whose server now ignores ranges.
    (tmp_path / "f.bin.part").write_bytes(b"stale bytes from another version")
    (tmp_path / "f.bin.part.meta").write_text(json.dumps({"validator": ETAG}))
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Range"))
        return _ranged(request, BODY, honour_range=False)

    app = web.Application()
    app.router.add_get("/f", handler)
    deltas: list[int] = []

    def on_event(event: DownloadEvent) -> None:
        if isinstance(event, DownloadProgress):
            deltas.append(event.delta)

    async with serve(app) as base:
        report = await download_all(
            [DownloadRequest(base + "/f", "f.bin")], tmp_path, subscribers=[on_event]
        )
    assert report.ok
    assert seen == ["bytes=32-"]
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert -32 in deltas  # the progress display goes back when a file starts over
    assert 32 + sum(deltas) == len(BODY)  # started at the 32 bytes already on disk
    assert _files_under(tmp_path) == ["f.bin"]


@pytest.mark.anyio
@pytest.mark.parametrize("body", [SMALL, BODY], ids=["one-write", "streamed"])
async def test_a_part_left_without_meta_is_fetched_anew_never_resumed_or_kept(
    serve: ServeApp, tmp_path: Path, body: bytes
) -> None:
    # A crash between creating NAME.part and writing its meta (or during a one-go
    # write, which has no meta): bytes of unknown origin, longer than the body.
    (tmp_path / "a").mkdir()
    (tmp_path / "a/f.bin.part").write_bytes(b"x" * (len(body) + 4096))
    (tmp_path / "g.bin.part").write_bytes(body[:100])  # even a true prefix is not trusted
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Range"))
        return _ranged(request, body)

    app = web.Application()
    app.router.add_get("/f", handler)
    async with serve(app) as base:
        report = await download_all(
            [DownloadRequest(base + "/f", "a/f.bin"), DownloadRequest(base + "/f", "g.bin")],
            tmp_path,
        )
    assert report.ok
    assert seen == [None, None]
    assert (tmp_path / "a/f.bin").read_bytes() == body
    assert (tmp_path / "g.bin").read_bytes() == body
    assert _files_under(tmp_path) == ["a/f.bin", "g.bin"]


@pytest.mark.anyio
async def test_dropped_connection_resumes_with_range_and_if_range(
    serve: ServeApp, tmp_path: Path
) -> None:
    requests: list[tuple[str | None, str | None]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        requests.append((request.headers.get("Range"), request.headers.get("If-Range")))
        if len(requests) > 1:
            return _ranged(request, BODY)
        response = web.StreamResponse(headers={"ETag": ETAG})
        response.content_length = len(BODY)
        await response.prepare(request)
        await response.write(BODY[:300_000])
        assert request.transport is not None
        request.transport.abort()  # a reset mid-body
        return response

    app = web.Application()
    app.router.add_get("/f", handler)
    async with serve(app) as base:
        report = await download_all(
            [DownloadRequest(base + "/f", "f.bin", sha256=_sha(BODY))],
            tmp_path,
            retry=FAST_RETRY,
        )
    assert report.ok, report.failed
    assert (tmp_path / "f.bin").read_bytes() == BODY
    first_range, if_range = requests[1]
    assert first_range is not None
    assert 0 < int(first_range[6:-1]) <= 300_000
    assert if_range == ETAG
    assert report.done[0].attempts == 2


@pytest.mark.anyio
async def test_expired_signed_url_is_fetched_again_through_the_artifact_url(
    serve: ServeApp, tmp_path: Path
) -> None:
    hits = {"artifact": 0, "storage": 0}

    async def storage(request: web.Request) -> web.Response:
        hits["storage"] += 1
        if request.query.get("sig") == "1":
            return web.Response(status=403, text="<Error><Code>AccessDenied</Code></Error>")
        return web.Response(body=SMALL)

    storage_app = web.Application()
    storage_app.router.add_get("/obj", storage)
    async with serve(storage_app) as storage_base:

        async def artifact(request: web.Request) -> web.Response:
            hits["artifact"] += 1
            raise web.HTTPFound(f"{storage_base}/obj?sig={hits['artifact']}")

        artifact_app = web.Application()
        artifact_app.router.add_get("/a", artifact)
        async with serve(artifact_app) as base:
            report = await download_all(
                [DownloadRequest(base + "/a", "a.txt")], tmp_path, retry=FAST_RETRY
            )
    assert report.ok
    assert hits == {"artifact": 2, "storage": 2}
    assert (tmp_path / "a.txt").read_bytes() == SMALL


@pytest.mark.anyio
async def test_token_reaches_trusted_origin_but_never_follows_a_redirect(
    serve: ServeApp, tmp_path: Path
) -> None:
    tokens: dict[str, list[str | None]] = {"artifact": [], "storage": []}

    async def storage(request: web.Request) -> web.Response:
        tokens["storage"].append(request.headers.get("Circle-Token"))
        return web.Response(body=SMALL)

    storage_app = web.Application()
    storage_app.router.add_get("/obj", storage)
    async with serve(storage_app) as storage_base:

        async def artifact(request: web.Request) -> web.Response:
            tokens["artifact"].append(request.headers.get("Circle-Token"))
            raise web.HTTPFound(f"{storage_base}/obj")

        artifact_app = web.Application()
        artifact_app.router.add_get("/a", artifact)
        async with serve(artifact_app) as base:
            # Even a storage origin that the policy trusts gets no token after a redirect.
            policy = OriginPolicy([base, storage_base])
            report = await download_all(
                [
                    DownloadRequest(base + "/a", "a.txt"),
                    DownloadRequest(storage_base + "/obj", "b"),
                ],
                tmp_path,
                token=Token("s3cret"),
                policy=policy,
            )
    assert report.ok
    assert tokens["artifact"] == ["s3cret"]
    assert sorted(tokens["storage"], key=str) == [None, "s3cret"]  # the direct URL is trusted


@pytest.mark.anyio
async def test_more_than_five_redirects_fail_that_file_and_the_rest_continues(
    serve: ServeApp, tmp_path: Path
) -> None:
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop?n={int(request.query.get('n', '0')) + 1}")

    async def fine(request: web.Request) -> web.Response:
        return web.Response(body=SMALL)

    app = web.Application()
    app.router.add_get("/loop", loop)
    app.router.add_get("/fine", fine)
    async with serve(app) as base:
        report = await download_all(
            [DownloadRequest(base + "/loop", "loop"), DownloadRequest(base + "/fine", "fine")],
            tmp_path,
        )
    assert [r.path for r in report.done] == ["fine"]
    assert "redirects" in report.failed[0].reason
    assert _files_under(tmp_path) == ["fine"]


@pytest.mark.anyio
async def test_checksum_mismatch_fails_and_leaves_no_file(serve: ServeApp, tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=BODY)

    app = web.Application()
    app.router.add_get("/f", handler)
    async with serve(app) as base:
        report = await download_all(
            [
                DownloadRequest(base + "/f", "big", sha256="0" * 64),
                DownloadRequest(base + "/f", "small", sha256="0" * 64, size=len(BODY)),
            ],
            tmp_path,
        )
    assert [type(r.error) for r in report.failed] == [ChecksumMismatch, ChecksumMismatch]
    assert _files_under(tmp_path) == []


@pytest.mark.anyio
async def test_events_tell_queued_started_progress_and_done(
    serve: ServeApp, tmp_path: Path
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=BODY)

    app = web.Application()
    app.router.add_get("/f", handler)
    events: list[DownloadEvent] = []
    async with serve(app) as base:
        await download_all(
            [DownloadRequest(base + "/f", "f")], tmp_path, subscribers=[events.append]
        )
    assert isinstance(events[0], DownloadQueued)
    started = events[1]
    assert isinstance(started, DownloadStarted)
    assert (started.total, started.offset) == (len(BODY), 0)
    assert sum(e.delta for e in events if isinstance(e, DownloadProgress)) == len(BODY)
    done = events[-1]
    assert isinstance(done, DownloadDone)
    assert done.result.sha256 == _sha(BODY)


@pytest.mark.anyio
async def test_work_starts_while_the_lister_is_still_listing(
    serve: ServeApp, tmp_path: Path
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=SMALL)

    app = web.Application()
    app.router.add_get("/{n}", handler)
    first_done = anyio.Event()
    finished = 0
    listed = 0
    lead = 0

    def on_event(event: DownloadEvent) -> None:
        nonlocal finished
        if isinstance(event, DownloadDone):
            finished += 1
            first_done.set()

    async with serve(app) as base:

        async def lister() -> AsyncIterator[DownloadRequest]:
            nonlocal listed, lead
            yield DownloadRequest(f"{base}/0", "0")
            with anyio.fail_after(5):
                await first_done.wait()  # the first file lands before listing goes on
            for n in range(1, 300):
                listed += 1
                lead = max(lead, listed - finished)
                yield DownloadRequest(f"{base}/{n}", str(n))

        report = await download_all(
            lister(), tmp_path, workers=2, queue_size=4, subscribers=[on_event]
        )
    assert report.files_done == 300
    # The queue is bounded: the lister never runs far ahead of the workers.
    assert lead <= 2 + 4 + 2


@pytest.mark.anyio
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full for ENOSPC")
async def test_full_disk_ends_the_run_with_one_disk_error_and_no_partial_file(
    serve: ServeApp, tmp_path: Path
) -> None:
    opened = 0

    def full_after_three(name: str, flags: int, dir_fd: int) -> int:
        nonlocal opened
        if not name.endswith(".part"):
            return nofollow_opener(name, flags, dir_fd)
        opened += 1
        if opened > 3:
            return os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
        return nofollow_opener(name, flags, dir_fd)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=SMALL if request.path.startswith("/s") else BODY)

    app = web.Application()
    app.router.add_get("/{n}", handler)
    async with serve(app) as base:
        requests = [DownloadRequest(f"{base}/s{i}", f"s{i}") for i in range(3)]
        requests += [DownloadRequest(f"{base}/b{i}", f"b{i}") for i in range(50)]

        async def run() -> None:
            async with Downloader(tmp_path, workers=1, opener=full_after_three) as dl:
                for request in requests:
                    await dl.submit(request)

        with pytest.raises(DiskError) as caught:
            await run()
    assert "No space left on device" in str(caught.value)
    finals = [p for p in _files_under(tmp_path) if not p.endswith((".part", ".meta"))]
    assert finals == ["s0", "s1", "s2"]  # complete ones only; the run stopped there
    assert all((tmp_path / p).read_bytes() == SMALL for p in finals)


@pytest.mark.anyio
async def test_unwritable_destination_is_one_clear_disk_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DiskError, match="cannot create"):
        await download_all([DownloadRequest("http://127.0.0.1:9/x", "x")], blocker / "dest")


@pytest.mark.anyio
async def test_complete_files_are_skipped_unless_overwrite(serve: ServeApp, tmp_path: Path) -> None:
    hits = 0

    async def handler(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(body=SMALL)

    app = web.Application()
    app.router.add_get("/f", handler)
    async with serve(app) as base:
        request = DownloadRequest(base + "/f", "f", size=len(SMALL), sha256=_sha(SMALL))
        await download_all([request], tmp_path)
        again = await download_all([request], tmp_path)
        assert (again.files_skipped, hits) == (1, 1)
        (tmp_path / "f").write_bytes(b"x" * len(SMALL))  # same size, wrong content
        repaired = await download_all([request], tmp_path)
        forced = await download_all([request], tmp_path, overwrite=True)
    assert (repaired.files_done, forced.files_done, hits) == (1, 1, 3)
    assert (tmp_path / "f").read_bytes() == SMALL


@pytest.mark.anyio
async def test_colliding_paths_both_land_under_distinct_names(
    serve: ServeApp, tmp_path: Path
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request.path)

    app = web.Application()
    app.router.add_get("/{n}", handler)
    async with serve(app) as base:
        report = await download_all(
            [
                DownloadRequest(base + "/one", "out/report.xml"),
                DownloadRequest(base + "/two", "/out/report.xml"),
                DownloadRequest(base + "/three", "out\\report.xml"),
            ],
            tmp_path,
            workers=1,
        )
    assert report.ok
    assert (tmp_path / "out/report.xml").read_text() == "/one"
    assert (tmp_path / "out/report~2.xml").read_text() == "/two"
    assert (tmp_path / "out/report~3.xml").read_text() == "/three"


_hostile_part = st.sampled_from(["..", ".", "", "/", "\\", "C:", "\0", "\x1b", "a", "é", "//x"])
_hostile_path = st.lists(_hostile_part | st.text(max_size=4), min_size=1, max_size=8).map("".join)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(paths=st.lists(_hostile_path, min_size=1, max_size=6))
def test_no_download_ever_writes_outside_the_destination(
    paths: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    sandbox = tmp_path_factory.mktemp("sandbox")
    dest = sandbox / "dest"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=b"payload")

    async def main() -> tuple[int, int]:
        from .conftest import _serve

        app = web.Application()
        app.router.add_get("/f", handler)
        async with _serve(app) as base:
            report = await download_all([DownloadRequest(base + "/f", p) for p in paths], dest)
        assert all(isinstance(r.error, UnsafePath) for r in report.failed)
        return report.files_done, report.files_failed

    done, failed = anyio.run(main, backend="asyncio")
    assert done + failed == len(paths)
    everything = [p.relative_to(sandbox) for p in sandbox.rglob("*")]
    assert all(p.parts[0] == "dest" for p in everything)
    assert len([p for p in dest.rglob("*") if p.is_file()]) == done


@pytest.mark.anyio
async def test_cancelled_run_leaves_only_part_files_and_a_rerun_completes_them(
    serve: ServeApp, tmp_path: Path
) -> None:
    release = anyio.Event()
    ranges: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        ranges.append(request.headers.get("Range"))
        if len(ranges) > 1:
            return _ranged(request, BODY)
        response = web.StreamResponse(headers={"ETag": ETAG})
        response.content_length = len(BODY)
        await response.prepare(request)
        await response.write(BODY[:100_000])
        await release.wait()  # stalls mid-body until the test ends
        return response

    app = web.Application()
    app.router.add_get("/f", handler)
    progressed = anyio.Event()

    def on_event(event: DownloadEvent) -> None:
        if isinstance(event, DownloadProgress):
            progressed.set()

    async with serve(app) as base:
        request = DownloadRequest(base + "/f", "f.bin", sha256=_sha(BODY))
        with anyio.CancelScope() as scope:
            async with Downloader(tmp_path, subscribers=[on_event]) as dl:
                await dl.submit(request)
                with anyio.fail_after(5):
                    await progressed.wait()
                scope.cancel()
        assert scope.cancelled_caught
        assert _files_under(tmp_path) == ["f.bin.part", "f.bin.part.meta"]
        report = await download_all([request], tmp_path)
        release.set()
    assert report.ok
    assert (tmp_path / "f.bin").read_bytes() == BODY
    assert ranges[1] == "bytes=100000-"
    assert _files_under(tmp_path) == ["f.bin"]


def test_requests_are_frozen_values() -> None:
    request = DownloadRequest("https://x/y?sig=secret", "y", size=1)
    with pytest.raises(AttributeError):
        request.path = "z"  # type: ignore[misc]
    assert "secret" not in repr(request)


@pytest.mark.anyio
async def test_a_directory_removed_mid_run_is_made_again_for_the_next_file(
    serve: ServeApp, tmp_path: Path
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=SMALL)

    app = web.Application()
    app.router.add_get("/{name}", handler)

    def remove_after_first(event: DownloadEvent) -> None:
        if isinstance(event, DownloadDone) and event.result.path == "a/b/1.bin":
            shutil.rmtree(tmp_path / "a")  # someone cleans up while the run goes on

    async with serve(app) as base:
        report = await download_all(
            [DownloadRequest(f"{base}/{i}", f"a/b/{i}.bin") for i in (1, 2, 3)],
            tmp_path,
            workers=1,
            subscribers=[remove_after_first],
        )
    assert report.ok, [r.reason for r in report.failed]
    assert _files_under(tmp_path) == ["a/b/2.bin", "a/b/3.bin"]
    assert (tmp_path / "a/b/3.bin").read_bytes() == SMALL
