"""Object-store destinations against a real S3 endpoint (moto's server, another process).

What the bucket holds is read back over plain HTTP (ListObjectsV2, GET), not
through the code under test.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from aiocircleci._objectstore import (
    MANIFEST_PREFIX,
    ObjectStoreWriter,
    StoredObject,
    StoreSettings,
    StoreURL,
    parse_dest,
)
from aiocircleci.errors import ConfigurationError, ObjectStoreError, UnsafePath

from ._servers import S3Server

MiB = 1024 * 1024
PART = 5 * MiB
_NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    name = f"t-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    return name


def _writer(s3: S3Server, bucket: str, prefix: str = "mirror") -> ObjectStoreWriter:
    settings = StoreSettings.from_env(s3.env)
    return ObjectStoreWriter(StoreURL("s3", bucket, prefix), settings, part_size=PART)


def _http(s3: S3Server, path: str, method: str = "GET") -> bytes:
    request = urllib.request.Request(f"{s3.endpoint}/{path}", method=method)
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        return body


def _keys(s3: S3Server, bucket: str) -> dict[str, int]:
    """Every visible object of ``bucket``: key → size, as any S3 client would list it."""
    root = ET.fromstring(_http(s3, f"{bucket}?list-type=2"))
    return {
        c.findtext("s3:Key", namespaces=_NS) or "": int(c.findtext("s3:Size", namespaces=_NS) or 0)
        for c in root.findall("s3:Contents", _NS)
    }


def _etag(s3: S3Server, path: str) -> str:
    request = urllib.request.Request(f"{s3.endpoint}/{path}", method="HEAD")
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers["ETag"]).strip('"')


def _pending_uploads(s3: S3Server, bucket: str) -> list[str]:
    root = ET.fromstring(_http(s3, f"{bucket}?uploads"))
    return [u.findtext("s3:Key", namespaces=_NS) or "" for u in root.findall("s3:Upload", _NS)]


def _body(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (64 * 1024 // 32)
    return (block * (size // len(block) + 1))[:size]


async def _chunks(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


# ------------------------------------------------------------------ parsing


@pytest.mark.parametrize("dest", ["out", "./s3", "/tmp/x", "C:\\mirror", "a:b", "s3:bucket"])
def test_a_plain_path_is_a_local_destination(dest: str) -> None:
    assert parse_dest(dest) is None


@pytest.mark.parametrize(
    ("dest", "expected"),
    [
        ("s3://bucket", StoreURL("s3", "bucket", "")),
        ("s3://bucket/", StoreURL("s3", "bucket", "")),
        ("S3://my.bucket/ci/artifacts/", StoreURL("s3", "my.bucket", "ci/artifacts")),
        ("gs://b/p", StoreURL("gs", "b", "p")),
        ("az://container/p", StoreURL("az", "container", "p")),
    ],
)
def test_object_store_urls_parse(dest: str, expected: StoreURL) -> None:
    assert parse_dest(dest) == expected


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        ("ftp://host/dir", "unsupported scheme ftp://"),
        ("file:///tmp/x", "unsupported scheme file://"),
        ("s4://bucket/x", "unsupported scheme s4://"),
        ("https://bucket.example/x", "unsupported scheme https://"),
        ("s3://", "expected s3://BUCKET/PREFIX"),
        ("s3://bucket/a//b", "empty, '.' or '..'"),
        ("s3://bucket/a/../b", "empty, '.' or '..'"),
        ("s3://bucket/x?versionId=1", "no user, query or fragment"),
    ],
)
def test_unsupported_dest_is_refused_in_one_line(dest: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        parse_dest(dest)
    assert "\n" not in str(info.value)


def test_credentials_never_show_in_a_user_info_dest_or_settings_repr() -> None:
    with pytest.raises(ConfigurationError) as info:
        parse_dest("s3://AKIDEXAMPLE:hunter2secret@bucket/x?q=1")
    assert "hunter2secret" not in str(info.value)
    settings = StoreSettings.from_env(
        {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "hunter2secret"}
    )
    assert "hunter2secret" not in repr(settings)
    assert "AKIDEXAMPLE" not in repr(settings)


def test_settings_come_from_the_standard_aws_variables() -> None:
    settings = StoreSettings.from_env(
        {
            "AWS_ACCESS_KEY_ID": "id",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "AWS_DEFAULT_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        }
    )
    assert settings == StoreSettings(
        access_key_id="id",
        secret_access_key="secret",
        region="eu-west-1",
        endpoint="http://127.0.0.1:9000",
    )
    assert settings.allow_http
    assert not StoreSettings(endpoint="https://s3.example").allow_http
    assert not StoreSettings().allow_http


# ------------------------------------------------------------------ uploads


@pytest.mark.anyio
async def test_a_multipart_upload_is_byte_exact_with_its_sha256(
    s3_server: S3Server, bucket: str
) -> None:
    data = _body(2 * PART + 123_457)
    async with _writer(s3_server, bucket) as writer:
        stored = await writer.upload("gh/acme/api/7/build/logs/big.bin", _chunks(data))
    assert stored == StoredObject(
        key="gh/acme/api/7/build/logs/big.bin",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    assert _http(s3_server, f"{bucket}/mirror/gh/acme/api/7/build/logs/big.bin") == data
    # Three parts: S3's multipart ETag ends in "-<parts>".
    assert _etag(s3_server, f"{bucket}/mirror/gh/acme/api/7/build/logs/big.bin").endswith("-3")
    assert _pending_uploads(s3_server, bucket) == []


@pytest.mark.anyio
async def test_a_failing_body_leaves_no_visible_object(s3_server: S3Server, bucket: str) -> None:
    async def broken() -> AsyncIterator[bytes]:
        async for chunk in _chunks(_body(PART + MiB)):
            yield chunk
        raise OSError("connection to the artifact host reset")

    async with _writer(s3_server, bucket) as writer:
        with pytest.raises(OSError, match="reset"):
            await writer.upload("gh/acme/api/7/build/half.bin", broken())
    assert _keys(s3_server, bucket) == {}


@pytest.mark.anyio
async def test_an_unsafe_key_is_refused_before_any_request(
    s3_server: S3Server, bucket: str
) -> None:
    async with _writer(s3_server, bucket) as writer:
        for key in ("../escape", "/abs", "a//b", "a/./b", ""):
            with pytest.raises(UnsafePath):
                await writer.upload(key, _chunks(b"x"))
    assert _keys(s3_server, bucket) == {}


@pytest.mark.anyio
async def test_a_missing_bucket_is_a_typed_error_without_the_secret(s3_server: S3Server) -> None:
    env = {**s3_server.env, "AWS_SECRET_ACCESS_KEY": "hunter2secret"}
    writer = ObjectStoreWriter(
        StoreURL("s3", "no-such-bucket-here", "p"), StoreSettings.from_env(env)
    )
    with pytest.raises(ObjectStoreError) as info:
        await writer.upload("a.txt", _chunks(b"hello"))
    assert "s3://no-such-bucket-here/p/a.txt" in str(info.value)
    assert "hunter2secret" not in str(info.value)


_KILLED_UPLOADER = textwrap.dedent(
    """
    import sys, anyio
    from aiocircleci._objectstore import ObjectStoreWriter, StoreSettings, StoreURL

    async def endless():
        sent = 0
        while True:
            yield b"k" * (1024 * 1024)
            sent += 1
            if sent == 12:  # two parts are on their way: tell the test
                print("uploading", flush=True)
            if sent >= 12:
                await anyio.sleep(0.05)

    async def main():
        writer = ObjectStoreWriter(
            StoreURL("s3", sys.argv[1], "mirror"), StoreSettings.from_env(),
            part_size=5 * 1024 * 1024,
        )
        await writer.upload("gh/acme/api/9/build/killed.bin", endless())

    anyio.run(main)
    """
)


def test_kill_9_mid_upload_leaves_no_object_and_a_rerun_completes_it(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    script = tmp_path / "uploader.py"
    script.write_text(_KILLED_UPLOADER)
    env = {**os.environ, **s3_server.env}
    process = subprocess.Popen(
        [sys.executable, str(script), bucket], env=env, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == b"uploading\n"
        # The multipart upload has begun on the server before the kill.
        for _ in range(100):
            if _pending_uploads(s3_server, bucket):
                break
            time.sleep(0.05)
        assert _pending_uploads(s3_server, bucket) == ["mirror/gh/acme/api/9/build/killed.bin"]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    assert process.returncode == -signal.SIGKILL
    assert _keys(s3_server, bucket) == {}

    data = _body(PART + 4321, seed=9)

    async def rerun() -> None:
        async with _writer(s3_server, bucket) as writer:
            await writer.upload("gh/acme/api/9/build/killed.bin", _chunks(data))

    anyio.run(rerun)
    assert _keys(s3_server, bucket) == {"mirror/gh/acme/api/9/build/killed.bin": len(data)}
    assert _http(s3_server, f"{bucket}/mirror/gh/acme/api/9/build/killed.bin") == data


# ---------------------------------------------------------------- manifests


@pytest.mark.anyio
async def test_job_manifests_make_a_rerun_from_another_machine_incremental(
    s3_server: S3Server, bucket: str
) -> None:
    # Machine A mirrors job 7, machine B job 8, into one bucket.
    async with _writer(s3_server, bucket) as a, _writer(s3_server, bucket) as b:
        seven = [
            await a.upload("gh/acme/api/3/build/a.txt", _chunks(b"alpha")),
            await a.upload("gh/acme/api/3/build/b.txt", _chunks(b"beta!")),
        ]
        eight = [await b.upload("gh/acme/web/1/test/c.txt", _chunks(b"gamma"))]
        await a.write_manifest("gh/acme/api", 7, seven)
        await b.write_manifest("gh/acme/web", 8, eight)
        # An upload that never got its manifest: its job is not done.
        await b.upload("gh/acme/web/2/test/d.txt", _chunks(b"delta"))

    # Each machine wrote only its own manifest object; none is shared.
    manifests = {k for k in _keys(s3_server, bucket) if k.startswith(f"mirror/{MANIFEST_PREFIX}")}
    assert manifests == {
        f"mirror/{MANIFEST_PREFIX}/gh/acme/api/7.json",
        f"mirror/{MANIFEST_PREFIX}/gh/acme/web/8.json",
    }

    async with _writer(s3_server, bucket) as c:  # a third machine, later
        done = await c.complete_jobs()
    assert sorted(done) == [("gh/acme/api", 7), ("gh/acme/web", 8)]
    assert done["gh/acme/api", 7].objects == tuple(seven)
    assert done["gh/acme/api", 7].objects[0].sha256 == hashlib.sha256(b"alpha").hexdigest()

    # An object replaced by one of another size makes its job incomplete again.
    async with _writer(s3_server, bucket) as d:
        await d.upload("gh/acme/api/3/build/b.txt", _chunks(b"truncated"))
        assert sorted(await d.complete_jobs()) == [("gh/acme/web", 8)]


# The uploader leaves with os._exit: obstore 0.12's tokio threads may still call
# into Python (waking the closed event loop) as the interpreter finalizes, and
# Python 3.11 then aborts the process (exit -6, in about 1 run of 5 here). That
# defect of the exit path is recorded for the mirror's wiring; this test is
# about memory.
_BIG_UPLOADER = textwrap.dedent(
    """
    import os, resource, sys, anyio
    from aiocircleci._objectstore import ObjectStoreWriter, StoreSettings, StoreURL

    MiB = 1024 * 1024
    total = int(sys.argv[2]) * MiB

    async def body():
        block = bytearray(range(256)) * 1024
        for _ in range(total // len(block)):
            # A fresh object per chunk, as bodies from the network are: the
            # store may hold on to a buffer it was given without copying it.
            yield bytes(block)

    async def main():
        writer = ObjectStoreWriter(
            StoreURL("s3", sys.argv[1], "mirror"), StoreSettings.from_env(),
            part_size=5 * MiB, max_concurrency=2,
        )
        await writer.upload("warm.bin", body_of(MiB))  # load the libraries first
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        stored = await writer.upload("big.bin", body())
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(stored.size, (after - before) // 1024, flush=True)  # ru_maxrss: KiB

    async def body_of(size):
        yield b"w" * size

    anyio.run(main)
    os._exit(0)
    """
)


def test_a_large_upload_streams_in_bounded_memory(
    s3_server: S3Server, bucket: str, tmp_path: Path
) -> None:
    size_mib = 64
    script = tmp_path / "big.py"
    script.write_text(_BIG_UPLOADER)
    done = subprocess.run(
        [sys.executable, str(script), bucket, str(size_mib)],
        env={**os.environ, **s3_server.env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    uploaded, grew_mib = map(int, done.stdout.split())
    assert uploaded == size_mib * MiB
    assert _keys(s3_server, bucket)["mirror/big.bin"] == size_mib * MiB
    # Parts of 5 MiB, two in flight: the process never holds the body, only parts.
    assert grew_mib < 32, f"peak RSS grew by {grew_mib} MiB for a {size_mib} MiB body"


@pytest.mark.anyio
async def test_keys_keep_the_layout_on_disk_byte_for_byte(s3_server: S3Server, bucket: str) -> None:
    keys = ["a/my file (1).txt", "a/ünï.txt", "a/100%.txt", "a/x+y=z&q?.txt", "a/*[1]~2.ext"]
    async with _writer(s3_server, bucket, prefix="ci artifacts") as writer:
        for key in keys:
            await writer.upload(key, _chunks(key.encode()))
        assert await writer.listing() == {k: len(k.encode()) for k in keys}
    assert _keys(s3_server, bucket) == {f"ci artifacts/{k}": len(k.encode()) for k in keys}
