"""How close ``aiocircleci mirror`` comes to the rate limit's lower bound.

Run as ``python -m benchmarks.mirror [--json]``. The emulator serves a world of
200 pipelines x 2 workflows x 4 jobs x 5 artifacts (8,000 files) with 50 ms
added to every request on all three hosts and a limit of 20 API requests per
second per token. ``aiocircleci mirror --api-rate 20`` then lists and downloads
all of it, in its own process, as a user runs it.

Figures:

* the mirror's wall time (process start to exit) against the lower bound, API
  requests / R: no client can list the tree faster without 429s;
* the 429s the emulator sent and its Retry-After violations (both must be 0);
* a sequential baseline that walks the same tree one request at a time
  (listing through the client at the same rate, then each download, one after
  the other). It is linear in the tree, so by default it walks the newest
  ``--baseline-pipelines`` pipelines and scales its time up to the whole tree.

The emulator runs on its own thread and event loop in this process, the mirror
in a child process, so neither competes with the other for the GIL.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import anyio

from aiocircleci import Client, Limits
from aiocircleci.testing import FakeCircleCI, WorldConfig

SEED = 5


@dataclass(frozen=True)
class MirrorRun:
    wall_seconds: float
    mirror_seconds: float
    api_requests: int
    lower_bound_seconds: float
    ratio: float
    files: int
    bytes: int
    received_429: int
    violations: int
    client_retries: int


@dataclass(frozen=True)
class Baseline:
    pipelines_walked: int
    seconds_walked: float
    api_requests_walked: int
    files_walked: int
    seconds_whole_tree: float
    extrapolated: bool


def _world(pipelines: int) -> WorldConfig:
    return WorldConfig(
        projects=1,
        pipelines_per_project=pipelines,
        workflows_per_pipeline=2,
        jobs_per_workflow=4,
        artifacts_per_job=5,
        quirks=False,
    )


def _run_mirror(fake: FakeCircleCI, dest: Path, rate: float, extra: list[str]) -> MirrorRun:
    slug = fake.world.projects[0].slug
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE", "CIRCLECI"))}
    env.update(CIRCLECI_BASE_URL=fake.base_url, CIRCLE_TOKEN=fake.token)
    argv = [sys.executable, "-m", "aiocircleci", "--json", "mirror", slug, "--dest", str(dest)]
    argv += ["--api-rate", f"{rate:g}", "--artifact-host", fake.artifact_origin, *extra]
    fake.clear_requests()
    violations_before = fake.violations
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"the mirror failed ({done.returncode}): {done.stderr.strip()}")
    report = json.loads(done.stdout)
    api = fake.api_requests
    expected = list(fake.world.iter_artifacts())
    if report["files"]["done"] != len(expected) or report["bytes"] != sum(a.size for a in expected):
        raise SystemExit(f"the mirror did not fetch the whole world: {report['files']}")
    bound = len(api) / rate
    return MirrorRun(
        wall_seconds=round(wall, 2),
        mirror_seconds=report["seconds"],
        api_requests=len(api),
        lower_bound_seconds=round(bound, 2),
        ratio=round(wall / bound, 3),
        files=report["files"]["done"],
        bytes=report["bytes"],
        received_429=sum(1 for r in api if r.status == 429),
        violations=fake.violations - violations_before,
        client_retries=report["api"]["retries"],
    )


async def _walk_sequentially(fake: FakeCircleCI, dest: Path, rate: float, limit: int) -> int:
    """Pipelines → workflows → jobs → artifacts → each download, one request at a time."""
    slug = fake.world.projects[0].slug
    files = 0
    limits = Limits(rate=rate, burst=1, max_in_flight=1)
    async with (
        Client(fake.token, base_url=fake.base_url, limits=limits) as client,
        aiohttp.ClientSession() as session,
    ):
        async for pipeline in client.pipelines(slug, limit=limit):
            async for workflow in client.pipeline_workflows(pipeline.id):
                async for job in client.workflow_jobs(workflow.id):
                    assert job.job_number is not None
                    async for artifact in client.job_artifacts(slug, job.job_number):
                        headers = {"Circle-Token": fake.token}
                        async with session.get(
                            artifact.url, headers=headers, allow_redirects=False
                        ) as first:
                            # HTML is served in place; the rest redirects to storage.
                            location = first.headers.get("Location")
                            body = await first.read()
                        if location is not None:
                            async with session.get(location) as second:
                                body = await second.read()
                        target = dest / f"{files}.bin"
                        target.write_bytes(body)  # noqa: ASYNC240 - a baseline, on purpose
                        files += 1
    return files


def _run_baseline(fake: FakeCircleCI, dest: Path, rate: float, walk: int, total: int) -> Baseline:
    fake.clear_requests()
    started = time.perf_counter()
    files = anyio.run(_walk_sequentially, fake, dest, rate, walk, backend="asyncio")
    seconds = time.perf_counter() - started
    api = len(fake.api_requests)
    return Baseline(
        pipelines_walked=walk,
        seconds_walked=round(seconds, 2),
        api_requests_walked=api,
        files_walked=files,
        seconds_whole_tree=round(seconds * total / walk, 1),
        extrapolated=walk < total,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mirror", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--pipelines", type=int, default=200, help="pipelines in the world")
    parser.add_argument("--rate", type=float, default=20.0, help="API requests/s, both sides")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="added to every request")
    parser.add_argument(
        "--baseline-pipelines",
        type=int,
        default=20,
        metavar="N",
        help="pipelines the sequential baseline walks, then scales up (0: skip; default 20)",
    )
    parser.add_argument("--mirror-args", default="", help="extra arguments for the mirror")
    args = parser.parse_args()

    config = _world(args.pipelines)
    fake = FakeCircleCI(seed=SEED, config=config, rate_limit=args.rate, latency_ms=args.latency_ms)
    with fake, tempfile.TemporaryDirectory(prefix="aiocircleci-bench-") as tmp:
        mirror = _run_mirror(fake, Path(tmp) / "mirror", args.rate, args.mirror_args.split())
        baseline = None
        if args.baseline_pipelines > 0:
            walk = min(args.baseline_pipelines, args.pipelines)
            (Path(tmp) / "baseline").mkdir()
            baseline = _run_baseline(fake, Path(tmp) / "baseline", args.rate, walk, args.pipelines)
    result = {
        "world": {
            "pipelines": args.pipelines,
            "workflows_per_pipeline": config.workflows_per_pipeline,
            "jobs_per_workflow": config.jobs_per_workflow,
            "artifacts_per_job": config.artifacts_per_job,
            "rate": args.rate,
            "latency_ms": args.latency_ms,
        },
        "mirror": asdict(mirror),
        "baseline": asdict(baseline) if baseline is not None else None,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    m = mirror
    print(
        f"world: {args.pipelines} pipelines x 2 workflows x 4 jobs x 5 artifacts = {m.files} files"
    )
    print(f"emulator: {args.rate:g} API requests/s, {args.latency_ms:g} ms added per request")
    print(
        f"mirror wall time      {m.wall_seconds:8.2f} s  (the mirror itself: {m.mirror_seconds} s)"
    )
    print(
        f"lower bound           {m.lower_bound_seconds:8.2f} s  ({m.api_requests} API requests / R)"
    )
    print(f"ratio                 {m.ratio:8.3f}    (target <= 1.15)")
    print(f"429s received         {m.received_429:8d}")
    print(f"Retry-After violations{m.violations:8d}")
    if baseline is not None:
        how = f"scaled from {baseline.pipelines_walked} pipelines" if baseline.extrapolated else ""
        print(
            f"sequential baseline   {baseline.seconds_whole_tree:8.1f} s  {how} "
            f"({baseline.seconds_walked} s for {baseline.files_walked} files, "
            f"{baseline.api_requests_walked} API requests)"
        )
        print(f"speed-up              {baseline.seconds_whole_tree / m.wall_seconds:8.1f} x")


if __name__ == "__main__":
    main()
