"""How fast the emulator itself is: the ceiling every other benchmark runs under.

Run as ``python -m benchmarks.emulator_throughput [--json]``. It measures

* requests/s for one page (20 items) of ``GET /project/{slug}/pipeline``,
  from 16 concurrent aiohttp tasks on keep-alive connections for 3 seconds;
* MB/s for one 512 MiB artifact read through the storage host, body discarded;
* in its own process, how long ``aiocircleci fake-server`` takes from spawn to
  printing its URL (its start-up, which a test suite pays per server).

Each is measured twice: with the emulator in its own process (``aiocircleci
fake-server``), which is the emulator's capacity, and with the emulator on the
client's own event loop, which is what an in-process test or benchmark gets.
When a benchmark of the client comes near these figures, the emulator, not the
client, is what it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from urllib.parse import quote

import aiohttp

from aiocircleci.testing import FakeCircleCI, MiB, WorldConfig

TOKEN = "benchmark-token"
PIPELINES = 200
CONCURRENCY = 16


@dataclass(frozen=True)
class Endpoints:
    base_url: str
    slug: str
    startup_seconds: float | None = None


@dataclass(frozen=True)
class Result:
    mode: str
    requests_per_second: float
    requests: int
    artifact_bytes: int
    artifact_mb_per_second: float
    startup_seconds: float | None


def _config(artifact_size: int) -> WorldConfig:
    return WorldConfig(
        projects=1,
        pipelines_per_project=PIPELINES,
        quirks=False,
        large_artifacts=1,
        large_artifact_size=artifact_size,
    )


@asynccontextmanager
async def _in_process(artifact_size: int) -> AsyncIterator[Endpoints]:
    async with FakeCircleCI(seed=1, token=TOKEN, config=_config(artifact_size)) as fake:
        yield Endpoints(fake.base_url, fake.world.projects[0].slug)


@asynccontextmanager
async def _subprocess(artifact_size: int) -> AsyncIterator[Endpoints]:
    command = [
        sys.executable,
        "-m",
        "aiocircleci",
        "fake-server",
        "--port=0",
        "--seed=1",
        f"--token={TOKEN}",
        "--projects=1",
        f"--pipelines={PIPELINES}",
        "--no-quirks",
        "--large-artifacts=1",
        f"--large-artifact-size={artifact_size}",
    ]
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        assert process.stdout is not None
        base_url = (await process.stdout.readline()).decode().strip()
        startup = time.perf_counter() - started
        yield Endpoints(base_url, "gh/acme-corp/web-app", startup)
    finally:
        process.terminate()
        await process.wait()


async def _pipelines_page(endpoints: Endpoints, seconds: float) -> tuple[int, float]:
    url = f"{endpoints.base_url}/project/{quote(endpoints.slug, safe='/')}/pipeline"
    connector = aiohttp.TCPConnector(limit=CONCURRENCY)
    async with aiohttp.ClientSession(
        connector=connector, headers={"Circle-Token": TOKEN}
    ) as session:
        async with session.get(url) as response:  # warm up, and check the page
            assert response.status == 200
            assert len((await response.json())["items"]) == 20
        done = 0
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.get(url) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"pipelines page answered {response.status}")
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        return done, time.perf_counter() - started


async def _large_artifact(endpoints: Endpoints, size: int) -> tuple[int, float]:
    async with aiohttp.ClientSession(headers={"Circle-Token": TOKEN}) as session:
        slug = quote(endpoints.slug, safe="/")
        async with session.get(f"{endpoints.base_url}/project/{slug}/pipeline") as response:
            newest = (await response.json())["items"][0]
        async with session.get(f"{endpoints.base_url}/pipeline/{newest['id']}/workflow") as r:
            workflow = (await r.json())["items"][0]
        async with session.get(f"{endpoints.base_url}/workflow/{workflow['id']}/job") as r:
            job = (await r.json())["items"][0]
        async with session.get(
            f"{endpoints.base_url}/project/{slug}/{job['job_number']}/artifacts"
        ) as r:
            artifact = (await r.json())["items"][0]
        async with session.get(artifact["url"], allow_redirects=False) as response:
            location = response.headers["Location"]
    async with aiohttp.ClientSession() as storage:  # no token for the storage host
        received = 0
        started = time.perf_counter()
        async with storage.get(location) as response:
            assert int(response.headers["Content-Length"]) == size
            async for chunk in response.content.iter_chunked(1024 * 1024):
                received += len(chunk)
        elapsed = time.perf_counter() - started
    if received != size:
        raise RuntimeError(f"artifact body was {received} bytes, expected {size}")
    return received, elapsed


async def _measure(mode: str, seconds: float, artifact_size: int) -> Result:
    serve = _subprocess if mode == "subprocess" else _in_process
    async with serve(artifact_size) as endpoints:
        requests, elapsed = await _pipelines_page(endpoints, seconds)
        received, transfer = await _large_artifact(endpoints, artifact_size)
    return Result(
        mode=mode,
        requests_per_second=round(requests / elapsed, 1),
        requests=requests,
        artifact_bytes=received,
        artifact_mb_per_second=round(received / transfer / 1e6, 1),
        startup_seconds=(
            None if endpoints.startup_seconds is None else round(endpoints.startup_seconds, 3)
        ),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.emulator_throughput")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--seconds", type=float, default=3.0, help="per request benchmark")
    parser.add_argument("--artifact-mib", type=int, default=512, help="large artifact size")
    parser.add_argument("--mode", choices=("subprocess", "in-process", "both"), default="both")
    args = parser.parse_args(argv)
    modes = ["subprocess", "in-process"] if args.mode == "both" else [args.mode]
    size = args.artifact_mib * MiB
    results = [asyncio.run(_measure(mode, args.seconds, size)) for mode in modes]
    environment = {
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "concurrency": CONCURRENCY,
        "seconds": args.seconds,
    }
    if args.json:
        print(json.dumps({"environment": environment, "results": [asdict(r) for r in results]}))
        return 0
    print(
        f"python {environment['python']}, aiohttp {environment['aiohttp']}, "
        f"{environment['cpus']} CPUs, {CONCURRENCY} client tasks"
    )
    for r in results:
        print(
            f"{r.mode:>11}: pipelines page {r.requests_per_second:8.0f} req/s   "
            f"artifact {r.artifact_bytes // MiB} MiB {r.artifact_mb_per_second:7.0f} MB/s"
            + ("" if r.startup_seconds is None else f"   start-up {r.startup_seconds:.2f} s")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
