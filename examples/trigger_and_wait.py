"""Trigger a pipeline with parameters, then wait until all its workflows have finished.

    python examples/trigger_and_wait.py [SLUG] [BRANCH]

Polls every EXAMPLE_POLL_SECONDS (default 5) for at most an hour.
"""

from __future__ import annotations

import os
import sys

import anyio

from aiocircleci import Client
from aiocircleci.models import WorkflowStatus

FINISHED = {
    WorkflowStatus.SUCCESS,
    WorkflowStatus.FAILED,
    WorkflowStatus.ERROR,
    WorkflowStatus.CANCELED,
    WorkflowStatus.NOT_RUN,
    WorkflowStatus.UNAUTHORIZED,
}


async def main() -> None:
    slug = sys.argv[1] if len(sys.argv) > 1 else "gh/acme-corp/web-app"
    branch = sys.argv[2] if len(sys.argv) > 2 else "main"
    poll = float(os.environ.get("EXAMPLE_POLL_SECONDS", "5"))
    async with Client() as client:
        created = await client.trigger_pipeline(
            slug, branch=branch, parameters={"deploy": False, "image-tag": "latest"}
        )
        print(f"pipeline #{created.number} ({created.id}) {created.state}")
        seen: dict[str, WorkflowStatus | None] = {}
        with anyio.fail_after(3600):
            while True:
                workflows = await client.pipeline_workflows(created.id).collect()
                for workflow in workflows:
                    if seen.get(workflow.id) != workflow.status:
                        seen[workflow.id] = workflow.status
                        print(f"  {workflow.name}: {workflow.status}")
                if workflows and all(w.status in FINISHED for w in workflows):
                    break
                await anyio.sleep(poll)
    ok = all(status is WorkflowStatus.SUCCESS for status in seen.values())
    print("all workflows succeeded" if ok else "some workflows did not succeed")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
