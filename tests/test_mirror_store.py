"""``aiocircleci mirror --dest s3://BUCKET/PREFIX`` against real servers.

The emulator serves the API and the artifacts; moto's standalone server (another
process) is the bucket. What the bucket holds is read back over plain HTTP
(ListObjectVersions, GET), never through the code under test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3  # type: ignore[import-untyped]
import pytest

from aiocircleci._lock import LOCK_NAME
from aiocircleci._manifest import MANIFEST_NAME
from aiocircleci._objectstore import MANIFEST_PREFIX
from aiocircleci.testing import FakeCircleCI, WorldConfig

from ._servers import S3Server
from .test_cli_mirror import _env, run_cli

_NS = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
MiB = 1024 * 1024

WORLD = WorldConfig(
    projects=2,
    pipelines_per_project=3,
    workflows_per_pipeline=1,
    jobs_per_workflow=2,
    artifacts_per_job=2,
    max_artifact_size=4096,
)
# A body big enough for a multipart upload (parts of 8 MiB).
BIG_WORLD = WorldConfig(
    projects=1,
    pipelines_per_project=1,
    workflows_per_pipeline=1,
    jobs_per_workflow=1,
    artifacts_per_job=2,
    max_artifact_size=4096,
    large_artifacts=1,
    large_artifact_size=12 * MiB,
)


@pytest.fixture
def bucket(s3_server: S3Server) -> str:
    """A fresh bucket with versioning on: every PUT of a key leaves a version behind."""
    name = f"m-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(name)
    body = (
        b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Status>Enabled</Status></VersioningConfiguration>"
    )
    _http(s3_server, f"{name}?versioning", "PUT", body)
    return name


def _http(s3: S3Server, path: str, method: str = "GET", body: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/xml"} if body is not None else {}
    request = urllib.request.Request(
        f"{s3.endpoint}/{path}", data=body, method=method, headers=headers
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        data: bytes = response.read()
        return data


def _versions(s3: S3Server, bucket: str) -> list[tuple[str, str, int]]:
    """Every version of every object: (key, version id, size); uploads in progress are not."""
    root = ET.fromstring(_http(s3, f"{bucket}?versions"))
    return sorted(
        (
            v.findtext("s3:Key", namespaces=_NS) or "",
            v.findtext("s3:VersionId", namespaces=_NS) or "",
            int(v.findtext("s3:Size", namespaces=_NS) or 0),
        )
        for v in root.findall("s3:Version", _NS)
    )


def _objects(s3: S3Server, bucket: str, prefix: str) -> dict[str, bytes]:
    """The data objects under ``prefix/`` (not the job manifests): key → body.

    Read with boto3 (which moto's server depends on), a client apart from ours:
    moto refuses an unsigned GET of a key with an escaped space.
    """
    env = s3.env
    client = boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )
    keys = {k for k, _, _ in _versions(s3, bucket)}
    return {
        key.removeprefix(f"{prefix}/"): client.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in keys
        if key.startswith(f"{prefix}/") and not key.startswith(f"{prefix}/{MANIFEST_PREFIX}/")
    }


def _manifests(s3: S3Server, bucket: str, prefix: str) -> set[str]:
    return {k for k, _, _ in _versions(s3, bucket) if k.startswith(f"{prefix}/{MANIFEST_PREFIX}/")}


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(MANIFEST_NAME) and p.name != LOCK_NAME
    }


def _store_env(fake: FakeCircleCI, s3: S3Server) -> dict[str, str]:
    env = {k: v for k, v in _env(fake).items() if not k.startswith("AWS_")}
    return {**env, **s3.env}


def test_a_mirror_into_s3_is_byte_exact_with_the_local_mirror_and_a_rerun_uploads_nothing(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    with FakeCircleCI(seed=71, config=WORLD) as fake:
        slugs = [p.slug for p in fake.world.projects]
        local = run_cli(fake, "mirror", *slugs, "--dest", str(tmp_path / "local"))
        assert local.returncode == 0, local.stderr
        dest = f"s3://{bucket}/backup"
        env = _store_env(fake, s3_server)
        first = run_cli(fake, "mirror", *slugs, "--dest", dest, "--json", env=env)
        assert first.returncode == 0, first.stderr
        versions = _versions(s3_server, bucket)
        # Another machine, later: reads the bucket's manifests, fetches and copies nothing.
        fake.clear_requests()
        second = run_cli(fake, "mirror", *slugs, "--dest", dest, "--json", env=env)
        assert second.returncode == 0, second.stderr
        fetched = fake.artifact_requests + fake.storage_requests

    on_disk = _files(tmp_path / "local")
    assert on_disk
    assert _objects(s3_server, bucket, "backup") == on_disk
    report = json.loads(first.stdout)
    assert report["files"] == {"done": len(on_disk), "skipped": 0, "failed": 0}
    # One manifest object per job.
    assert len(_manifests(s3_server, bucket, "backup")) == report["jobs"]
    # The re-run: no new version of any object, no body fetched, everything skipped.
    assert _versions(s3_server, bucket) == versions
    assert fetched == []
    assert json.loads(second.stdout)["files"] == {"done": 0, "skipped": len(on_disk), "failed": 0}


def _pending_uploads(s3: S3Server, bucket: str) -> list[str]:
    root = ET.fromstring(_http(s3, f"{bucket}?uploads"))
    return [u.findtext("s3:Key", namespaces=_NS) or "" for u in root.findall("s3:Upload", _NS)]


def test_kill_9_mid_upload_shows_no_partial_object_and_a_rerun_completes_every_one(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    # Bodies of 12 MiB at 6 MiB/s: the first part goes out after about 1.3 s,
    # the upload completes after 2 s; the kill falls in between.
    with FakeCircleCI(seed=72, config=BIG_WORLD, limit_rate=6 * MiB) as fake:
        slug = fake.world.projects[0].slug
        dest = f"s3://{bucket}/backup"
        env = _store_env(fake, s3_server)
        process = subprocess.Popen(
            [sys.executable, "-m", "aiocircleci", "mirror", slug, "--api-rate", "1000"]
            + ["-q", "--dest", dest],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while not _pending_uploads(s3_server, bucket) and time.monotonic() < deadline:
                assert process.poll() is None, "the mirror ended before a multipart upload began"
                time.sleep(0.02)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL
        killed_in = _pending_uploads(s3_server, bucket)
        after_kill = _objects(s3_server, bucket, "backup")
        manifests_after_kill = _manifests(s3_server, bucket, "backup")

        rerun = run_cli(fake, "mirror", slug, "--dest", dest, env=env)
        assert rerun.returncode == 0, rerun.stderr
        local = run_cli(fake, "mirror", slug, "--dest", str(tmp_path / "local"))
        assert local.returncode == 0, local.stderr

    expected = _files(tmp_path / "local")
    big = {k for k, body in expected.items() if len(body) > 8 * MiB}
    assert len(big) == 1
    assert any(key.removeprefix("backup/") in big for key in killed_in)
    # After the kill: what is visible is complete and byte-exact; the upload in
    # flight is not visible at all, and the job has no manifest.
    assert after_kill.keys() < expected.keys()
    assert all(body == expected[key] for key, body in after_kill.items())
    assert not {k.removeprefix("backup/") for k in killed_in} & after_kill.keys()
    assert manifests_after_kill == set()
    # After the re-run: every object complete, byte-exact.
    assert _objects(s3_server, bucket, "backup") == expected
    assert len(_manifests(s3_server, bucket, "backup")) == 1


def test_shards_into_one_bucket_are_disjoint_and_their_union_is_the_full_mirror(
    s3_server: S3Server, bucket: str
) -> None:
    with FakeCircleCI(seed=73, config=WORLD) as fake:
        slugs = [p.slug for p in fake.world.projects]
        env = _store_env(fake, s3_server)
        full = run_cli(fake, "mirror", *slugs, "--dest", f"s3://{bucket}/full", env=env)
        assert full.returncode == 0, full.stderr
        common = (
            "mirror",
            *slugs,
            "--api-rate",
            "1000",
            "--json",
            "--dest",
            f"s3://{bucket}/shared",
        )
        shards = [
            subprocess.Popen(
                [sys.executable, "-m", "aiocircleci", *common, "--shard", f"{k}/2"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for k in (0, 1)
        ]
        outputs = [s.communicate(timeout=120) for s in shards]
        assert [s.returncode for s in shards] == [0, 0], outputs
        versions = _versions(s3_server, bucket)

    done = [json.loads(out)["files"]["done"] for out, _ in outputs]
    everything = _objects(s3_server, bucket, "full")
    shared = _objects(s3_server, bucket, "shared")
    assert everything
    assert shared == everything
    assert all(done)  # both shards had work...
    assert sum(done) == len(everything)  # ...and none was done twice
    # Nothing was written twice: one version per key, no manifest shared.
    keys = [k for k, _, _ in versions if k.startswith("shared/")]
    assert len(keys) == len(set(keys))
    assert {k.removeprefix("shared/") for k in _manifests(s3_server, bucket, "shared")} == {
        k.removeprefix("full/") for k in _manifests(s3_server, bucket, "full")
    }


def test_demo_into_s3_verifies_every_object_it_copied(s3_server: S3Server, bucket: str) -> None:
    # The re-run that copies nothing is the first test's; this one is the demo's path.
    env = {k: v for k, v in _env(None).items() if not k.startswith("AWS_")} | s3_server.env
    done = run_cli(None, "demo", "--dest", f"s3://{bucket}/demo", "--json", env=env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["problems"] == []
    assert report["violations"] == 0
    assert report["verified"] == report["files"]["done"] > 0
    # Every object the demo verified is visible in the bucket, plus one manifest per job.
    data = [k for k, _, _ in _versions(s3_server, bucket) if f"/{MANIFEST_PREFIX}/" not in k]
    assert len(data) == report["verified"]


def test_a_run_under_an_artifact_filter_leaves_the_rest_of_the_job_to_the_next_run(
    tmp_path: Path, s3_server: S3Server, bucket: str
) -> None:
    with FakeCircleCI(seed=74, config=WORLD) as fake:
        slugs = [p.slug for p in fake.world.projects]
        env = _store_env(fake, s3_server)
        dest = f"s3://{bucket}/backup"
        wanted = next(iter(fake.world.iter_artifacts())).path
        some = run_cli(fake, "mirror", *slugs, "--artifact", wanted, "--dest", dest, env=env)
        assert some.returncode == 0, some.stderr
        before = _versions(s3_server, bucket)
        rest = run_cli(fake, "mirror", *slugs, "--dest", dest, "--json", env=env)
        assert rest.returncode == 0, rest.stderr
        local = run_cli(fake, "mirror", *slugs, "--dest", str(tmp_path / "local"))
        assert local.returncode == 0, local.stderr

    expected = _files(tmp_path / "local")
    filtered = {k for k, _, _ in before if f"/{MANIFEST_PREFIX}/" not in k}
    assert 0 < len(filtered) < len(expected)
    # The second run copied what the first left out, and nothing it had copied.
    assert _objects(s3_server, bucket, "backup") == expected
    report = json.loads(rest.stdout)["files"]
    assert report == {"done": len(expected) - len(filtered), "skipped": len(filtered), "failed": 0}
    data_versions = [v for v in _versions(s3_server, bucket) if v[0] in filtered]
    assert data_versions == [v for v in before if v[0] in filtered]


def test_a_missing_bucket_is_one_line_without_the_secret(s3_server: S3Server) -> None:
    with FakeCircleCI(seed=75, config=WORLD) as fake:
        env = _store_env(fake, s3_server)
        slug = fake.world.projects[0].slug
        done = run_cli(fake, "mirror", slug, "--dest", "s3://no-such-bucket-here/p", env=env)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "s3://no-such-bucket-here" in lines[0]
    assert s3_server.env["AWS_SECRET_ACCESS_KEY"] not in done.stderr + done.stdout
    assert fake.token not in done.stderr + done.stdout


def test_options_for_a_local_dest_are_refused_with_a_bucket_in_one_line() -> None:
    for flag in ("--dry-run", "--verify", "--rebuild-manifest", "--wait-lock"):
        done = run_cli(None, "mirror", "gh/acme/api", "--dest", "s3://bkt/p", flag)
        assert done.returncode == 2, done.stderr
        assert done.stderr.strip().splitlines() == [
            f"aiocircleci: {flag} applies to a local DEST, not to an object store (s3://bkt/p)"
        ]
