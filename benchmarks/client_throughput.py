"""How fast the client's request path is, with the limiter out of the way.

Two figures:

* requests/s for ``GET /project/{slug}/pipeline`` (one 20-item page, decoded into
  ``Page[Pipeline]``) through ``Client`` with an unlimited token bucket, from 16
  concurrent tasks, next to a bare aiohttp loop doing the same requests without
  decoding. The emulator runs in its own process, so it does not share the
  client's CPU time; its own ceiling is in the "Emulator throughput" section.
* microseconds to decode one 20-item pipeline page (the bytes the emulator sent,
  in the live API's shapes), with a bare msgspec decoder and through the
  client's decoding policy (``aiocircleci._decode``).

Run from the repository root::

    python -m benchmarks.client_throughput [--json] [--seconds 3] [--tasks 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from aiocircleci import Client, Limits
from aiocircleci._decode import Decoding
from aiocircleci.models import Page, Pipeline
from aiocircleci.models._base import decoder


@contextmanager
def fake_server() -> Iterator[tuple[str, str]]:
    """Start ``aiocircleci fake-server`` in its own process; yield (base URL, token)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiocircleci", "fake-server", "--port", "0", "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        token = proc.stdout.readline().strip().removeprefix("token: ")
        yield base_url, token
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _hammer(
    call: Callable[[], Awaitable[Any]], tasks: int, seconds: float
) -> tuple[float, float]:
    """Requests per second, and this process's CPU microseconds per request.

    The emulator runs in its own process, so the CPU time is the client's own
    cost: on a shared machine it varies far less than the rate does.
    """
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    start = time.perf_counter()
    cpu = time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    cpu_us = (time.process_time() - cpu) / max(done, 1) * 1e6
    return done / (time.perf_counter() - start), cpu_us


async def measure(base_url: str, token: str, tasks: int, seconds: float) -> dict[str, float]:
    slug = await _slug(base_url, token)
    unlimited = Limits(rate=math.inf, burst=10_000, max_in_flight=tasks * 2)
    async with Client(token, base_url=base_url, limits=unlimited) as client:

        async def via_client() -> None:
            async for _ in client.pipelines(slug, limit=20).pages():
                break

        client_rps, client_cpu_us = await _hammer(via_client, tasks, seconds)

    url = f"{base_url}/project/{slug}/pipeline"
    headers = {"Circle-Token": token, "Accept": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def via_aiohttp() -> None:
            async with session.get(url, headers=headers) as resp:
                await resp.read()

        raw_rps, raw_cpu_us = await _hammer(via_aiohttp, tasks, seconds)
        async with session.get(url, headers=headers) as resp:
            body = await resp.read()

    page_type = Page[Pipeline]
    dec = decoder(page_type)
    assert len(dec.decode(body).items) == 20
    runs = 20_000
    start = time.perf_counter()
    for _ in range(runs):
        dec.decode(body)
    decode_us = (time.perf_counter() - start) / runs * 1e6
    # The same page through the client's decoding policy (what every listing call does).
    policy = Decoding()
    start = time.perf_counter()
    for _ in range(runs):
        policy.decode_page(body, Pipeline, _where)
    policy_us = (time.perf_counter() - start) / runs * 1e6
    return {
        "client_requests_per_s": round(client_rps),
        "aiohttp_requests_per_s": round(raw_rps),
        "client_vs_aiohttp": round(client_rps / raw_rps, 3),
        "client_cpu_us_per_request": round(client_cpu_us, 1),
        "aiohttp_cpu_us_per_request": round(raw_cpu_us, 1),
        "decode_20_pipelines_us": round(decode_us, 1),
        "policy_decode_20_pipelines_us": round(policy_us, 1),
        "page_bytes": len(body),
    }


def _where() -> str:
    return "GET /project/{project-slug}/pipeline"


async def _slug(base_url: str, token: str) -> str:
    """The slug of a project with pipelines, found through the API itself."""
    async with Client(token, base_url=base_url) as client:
        org = (await client.collaborations())[0].slug
        assert org is not None
        async for pipeline in client.org_pipelines(org, limit=1):
            return pipeline.project_slug
    raise RuntimeError("the emulator's world has no pipeline")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--tasks", type=int, default=16)
    args = parser.parse_args()
    with fake_server() as (base_url, token):
        figures = asyncio.run(measure(base_url, token, args.tasks, args.seconds))
    figures["cpus"] = os.cpu_count() or 0
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:28} {value}")


if __name__ == "__main__":
    main()
