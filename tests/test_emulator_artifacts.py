"""The artifact host and the storage host: redirects, signatures, ranges, sizes."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp
import pytest
from multidict import CIMultiDictProxy

from aiocircleci.testing import Artifact, FakeCircleCI, MiB, WorldConfig

pytestmark = pytest.mark.anyio

TOKEN = "artifact-token"
CONFIG = WorldConfig(projects=2, pipelines_per_project=6, max_artifact_size=300_000)


class Clock:
    """A wall clock a test moves by hand."""

    def __init__(self, now: float = 1_760_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _artifact(fake: FakeCircleCI, *, min_size: int = 1, html: bool = False) -> Artifact:
    for artifact in fake.world.iter_artifacts():
        if artifact.size >= min_size and artifact.path.endswith(".html") == html:
            return artifact
    raise AssertionError("no such artifact in the world")


async def _redirect(session: aiohttp.ClientSession, artifact: Artifact) -> str:
    async with session.get(
        artifact.url, headers={"Circle-Token": TOKEN}, allow_redirects=False
    ) as response:
        assert response.status == 302
        return response.headers["Location"]


async def test_a_private_artifact_redirects_to_a_signed_storage_url_that_expires() -> None:
    wall = Clock()
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, wall_clock=wall, url_ttl=60) as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _artifact(fake, min_size=1000)
        async with session.get(artifact.url, allow_redirects=False) as response:
            assert response.status == 401
        location = await _redirect(session, artifact)
        assert location.startswith(fake.storage_origin + "/")
        async with session.get(location) as response:
            assert response.status == 200
            body = await response.read()
        assert len(body) == artifact.size
        assert hashlib.sha256(body).hexdigest() == artifact.sha256

        wall.now += 61
        async with session.get(location) as response:
            assert response.status == 403
            assert b"<Code>AccessDenied</Code>" in await response.read()
        location = await _redirect(session, artifact)  # a fresh URL works again
        async with session.get(location) as response:
            assert response.status == 200


async def test_a_tampered_storage_url_is_refused() -> None:
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG) as fake,
        aiohttp.ClientSession() as session,
    ):
        first, second = [a for a in fake.world.iter_artifacts() if not a.path.endswith(".html")][:2]
        location = urlsplit(await _redirect(session, first))
        other = urlsplit(await _redirect(session, second))
        query = dict(parse_qsl(location.query))
        tampered = [
            location._replace(path=other.path),
            location._replace(query=urlencode({**query, "X-Expires": "9999999999"})),
            location._replace(query=urlencode({**query, "X-Signature": "0" * 64})),
            location._replace(query=""),
        ]
        for url in tampered:
            async with session.get(urlunsplit(url)) as response:
                assert response.status == 403, url
                assert b"<Error>" in await response.read()


async def test_storage_never_sees_the_token_when_the_client_drops_it_on_redirect() -> None:
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG) as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _artifact(fake, min_size=10)
        async with session.get(await _redirect(session, artifact)) as response:
            assert response.status == 200
            await response.read()
        assert fake.storage_requests
        for record in fake.storage_requests:
            assert record.header("Circle-Token") is None
            assert record.header("Authorization") is None
            assert TOKEN not in repr(record)


async def test_the_storage_log_catches_a_client_that_forwards_the_token() -> None:
    # aiohttp keeps custom headers across a cross-origin redirect, as curl and
    # wget do: exactly the leak the log exists to catch.
    basic = base64.b64encode(f"{TOKEN}:".encode()).decode()
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG) as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _artifact(fake, min_size=10)
        async with session.get(artifact.url, headers={"Circle-Token": TOKEN}) as response:
            assert response.status == 200
            await response.read()
        assert fake.storage_requests[-1].header("Circle-Token") == TOKEN
        # S3 refuses a pre-signed URL that also carries an Authorization header.
        location = await _redirect(session, artifact)
        async with session.get(location, headers={"Authorization": f"Basic {basic}"}) as response:
            assert response.status == 400
            assert b"<Code>InvalidArgument</Code>" in await response.read()


async def test_public_projects_need_no_token_and_html_is_served_in_place() -> None:
    async with (
        FakeCircleCI(seed=1, token=TOKEN, config=CONFIG, private=False) as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _artifact(fake, min_size=10)
        async with session.get(artifact.url) as response:
            assert response.status == 200
            assert hashlib.sha256(await response.read()).hexdigest() == artifact.sha256
        page = _artifact(fake, min_size=10, html=True)
        async with session.get(page.url, allow_redirects=False) as response:
            assert response.status == 200
            assert response.content_type == "text/html"
            assert await response.read() == page.read()


async def test_paths_with_spaces_unicode_and_percent_signs_round_trip() -> None:
    async with (
        FakeCircleCI(seed=3, token=TOKEN, config=CONFIG, private=False) as fake,
        aiohttp.ClientSession() as session,
    ):
        tricky = {
            a.path: a
            for a in fake.world.iter_artifacts()
            if any(mark in a.path for mark in (" ", "%", "#", "?", "+", "日本"))
        }
        assert any("%20" in p for p in tricky)
        assert any("日本" in p for p in tricky)
        assert any("#" in p and "?" in p for p in tricky)
        for artifact in list(tricky.values())[:12]:
            async with session.get(artifact.url) as response:
                assert response.status == 200, artifact.path
                assert hashlib.sha256(await response.read()).hexdigest() == artifact.sha256


async def test_parallel_nodes_share_paths_but_not_content() -> None:
    config = WorldConfig(projects=1, pipelines_per_project=8, max_parallelism=4)
    async with FakeCircleCI(seed=4, token=TOKEN, config=config) as fake:
        by_job: dict[str, list[Artifact]] = {}
        for artifact in fake.world.iter_artifacts():
            by_job.setdefault(artifact.job_id, []).append(artifact)
        parallel = next(arts for arts in by_job.values() if len({a.node_index for a in arts}) > 1)
        nodes = {a.node_index for a in parallel}
        for path in {a.path for a in parallel}:
            same = [a for a in parallel if a.path == path]
            assert {a.node_index for a in same} == nodes
            assert len({a.url for a in same}) == len(nodes)
            assert len({a.seed for a in same}) == len(nodes)


async def test_range_and_if_range_on_the_storage_host() -> None:
    async with (
        FakeCircleCI(seed=5, token=TOKEN, config=CONFIG) as fake,
        aiohttp.ClientSession() as session,
    ):
        artifact = _artifact(fake, min_size=200_000)
        url = await _redirect(session, artifact)
        size = artifact.size

        async def get(**headers: str) -> tuple[int, CIMultiDictProxy[str], bytes]:
            async with session.get(url, headers=headers) as response:
                return response.status, response.headers, await response.read()

        status, headers, body = await get(Range="bytes=100-")
        assert status == 206
        assert headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"
        assert body == artifact.read(100)
        status, headers, body = await get(Range="bytes=70000-70009")
        assert (status, body) == (206, artifact.read(70000, 70010))
        assert headers["Content-Length"] == "10"
        status, headers, body = await get(Range="bytes=-5")
        assert (status, body) == (206, artifact.read(size - 5))
        status, headers, body = await get(Range=f"bytes={size}-")
        assert status == 416
        assert headers["Content-Range"] == f"bytes */{size}"

        status, headers, body = await get(Range="bytes=1000-", **{"If-Range": artifact.etag})
        assert (status, len(body)) == (206, size - 1000)
        status, headers, body = await get(Range="bytes=1000-", **{"If-Range": '"changed"'})
        assert (status, len(body)) == (200, size)
        status, plain, body = await get()
        last_modified = plain["Last-Modified"]
        status, headers, body = await get(Range="bytes=10-", **{"If-Range": last_modified})
        assert status == 206
        status, headers, body = await get(
            Range="bytes=10-", **{"If-Range": "Thu, 01 Jan 2015 00:00:00 GMT"}
        )
        assert status == 200

        status, headers, body = await get(**{"Accept-Encoding": "gzip, br"})
        assert status == 200
        assert "Content-Encoding" not in headers
        assert len(body) == size == int(headers["Content-Length"])
        assert headers["ETag"] == artifact.etag
        assert headers["Accept-Ranges"] == "bytes"


async def test_head_and_range_on_the_artifact_host() -> None:
    async with (
        FakeCircleCI(seed=5, token=TOKEN, config=CONFIG) as fake,
        aiohttp.ClientSession(headers={"Circle-Token": TOKEN}) as session,
    ):
        page = _artifact(fake, min_size=100, html=True)
        async with session.head(page.url) as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == str(page.size)
            assert response.headers["ETag"] == page.etag
            assert await response.read() == b""
        async with session.get(page.url, headers={"Range": "bytes=10-19"}) as response:
            assert response.status == 206
            assert await response.read() == page.read(10, 20)
        other = _artifact(fake, min_size=100)
        async with session.head(other.url, allow_redirects=False) as response:
            assert response.status == 302
        async with session.head(await _redirect(session, other)) as response:
            assert response.headers["Content-Length"] == str(other.size)


async def test_empty_artifacts_have_no_satisfiable_range() -> None:
    async with (
        FakeCircleCI(seed=6, token=TOKEN, config=CONFIG) as fake,
        aiohttp.ClientSession() as session,
    ):
        empty = next(
            a for a in fake.world.iter_artifacts() if a.size == 0 and not a.path.endswith(".html")
        )
        assert empty.sha256 == hashlib.sha256(b"").hexdigest()
        location = await _redirect(session, empty)
        async with session.get(location) as response:
            assert response.status == 200
            assert await response.read() == b""
        async with session.get(location, headers={"Range": "bytes=0-"}) as response:
            assert response.status == 416


async def test_a_gib_artifact_costs_no_memory_and_its_tail_is_one_range_away() -> None:
    config = WorldConfig(
        projects=1, pipelines_per_project=2, large_artifacts=1, large_artifact_size=1024 * MiB
    )
    async with (
        FakeCircleCI(seed=7, token=TOKEN, config=config) as fake,
        aiohttp.ClientSession() as session,
    ):
        large = next(a for a in fake.world.iter_artifacts() if a.size == 1024 * MiB)
        location = await _redirect(session, large)
        async with session.head(location) as response:
            assert response.headers["Content-Length"] == str(1024 * MiB)
        async with session.get(location, headers={"Range": "bytes=-1000000"}) as response:
            assert response.status == 206
            tail = await response.read()
        assert tail == large.read(1024 * MiB - 1_000_000)
        # Blocks differ, so a download that repeats or skips one changes the hash.
        assert large.read(0, 65536)[8:] == large.read(65536, 131072)[8:]
        assert large.read(0, 65536) != large.read(65536, 131072)


async def test_hostile_paths_reach_the_server_as_written() -> None:
    config = WorldConfig(projects=1, pipelines_per_project=3, hostile_paths=True)
    async with (
        FakeCircleCI(seed=8, token=TOKEN, config=config, private=False) as fake,
        aiohttp.ClientSession() as session,
    ):
        hostile = [
            a for a in fake.world.iter_artifacts() if a.path.startswith("/") or ".." in a.path
        ]
        assert hostile
        for artifact in hostile:
            async with session.get(artifact.url) as response:
                assert response.status == 200, artifact.path
                assert hashlib.sha256(await response.read()).hexdigest() == artifact.sha256
