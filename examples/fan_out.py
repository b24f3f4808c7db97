"""Fan out over many projects at once while sharing one request budget.

    python examples/fan_out.py [SLUG ...]

One ``RateLimiter`` is shared by a client per project (as separate services in
one process would have), so together they never exceed 10 requests per second,
however many projects there are.
"""

from __future__ import annotations

import sys
from collections import Counter

import anyio

from aiocircleci import Client, RateLimiter

DEFAULT_SLUGS = ["gh/acme-corp/web-app", "bb/acme-bb/api-server"]


async def main() -> None:
    slugs = sys.argv[1:] or DEFAULT_SLUGS
    limiter = RateLimiter(10, burst=5)
    results: dict[str, Counter[str]] = {}

    async def survey(slug: str) -> None:
        statuses: Counter[str] = Counter()
        async with Client(limiter=limiter) as client:
            async for pipeline in client.pipelines(slug, limit=10):
                async for workflow in client.pipeline_workflows(pipeline.id):
                    statuses[str(workflow.status)] += 1
        results[slug] = statuses

    async with anyio.create_task_group() as tg:
        for slug in slugs:
            tg.start_soon(survey, slug)
    for slug in slugs:
        counts = ", ".join(f"{status} {n}" for status, n in results[slug].most_common())
        print(f"{slug}: {counts or 'no workflows'}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
