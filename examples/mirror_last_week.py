"""Mirror every artifact of the last week of a project's main branch.

    python examples/mirror_last_week.py [SLUG] [DEST]

The client reads CIRCLECI_BASE_URL and CIRCLE_TOKEN from the environment. Run it
again: only what is new since the last run is downloaded.
"""

from __future__ import annotations

import sys
from datetime import timedelta

import anyio

from aiocircleci import Client
from aiocircleci.mirror import Selection, mirror_artifacts


async def main() -> None:
    slug = sys.argv[1] if len(sys.argv) > 1 else "gh/acme-corp/web-app"
    dest = sys.argv[2] if len(sys.argv) > 2 else "last-week"
    selection = Selection(branches=("main",), since=timedelta(days=7))
    async with Client() as client:
        report = await mirror_artifacts(client, [slug], dest, selection=selection)
    print(report.summary())
    for failed in report.failed:
        print(f"failed: {failed.request.path}: {failed.reason}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
