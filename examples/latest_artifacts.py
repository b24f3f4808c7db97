"""Download the artifacts of the newest pipeline of a branch, with the plain client.

    python examples/latest_artifacts.py [SLUG] [BRANCH] [DEST]

Walks pipeline → workflows → jobs → artifacts and hands each artifact to the
downloader as soon as it is listed. (``aiocircleci.mirror`` does this for many
pipelines at once, incrementally: ``Selection(branches=(branch,), latest=True)``.)
"""

from __future__ import annotations

import sys

import anyio

from aiocircleci import Client
from aiocircleci.download import Downloader, DownloadRequest


async def main() -> None:
    slug = sys.argv[1] if len(sys.argv) > 1 else "gh/acme-corp/web-app"
    branch = sys.argv[2] if len(sys.argv) > 2 else "main"
    dest = sys.argv[3] if len(sys.argv) > 3 else "latest-artifacts"
    async with Client() as client:
        newest = await client.pipelines(slug, branch=branch, limit=1).collect()
        if not newest:
            print(f"no pipeline on {branch}")
            return
        pipeline = newest[0]
        print(
            f"pipeline #{pipeline.number} on {branch}, created {pipeline.created_at:%Y-%m-%d %H:%M}"
        )
        async with Downloader.from_client(client, dest) as downloader:
            async for workflow in client.pipeline_workflows(pipeline.id):
                async for job in client.workflow_jobs(workflow.id):
                    if job.job_number is None:  # approval jobs, jobs not started
                        continue
                    async for artifact in client.job_artifacts(slug, job.job_number):
                        path = f"{workflow.name}/{job.name}/{artifact.node_index}/{artifact.path}"
                        await downloader.submit(DownloadRequest(artifact.url, path))
    print(downloader.report.summary())


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
