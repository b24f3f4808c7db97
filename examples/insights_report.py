"""A workflow insights report: runs, success rate and durations of each workflow.

python examples/insights_report.py [SLUG] [BRANCH]
"""

from __future__ import annotations

import sys

import anyio

from aiocircleci import Client


async def main() -> None:
    slug = sys.argv[1] if len(sys.argv) > 1 else "gh/acme-corp/web-app"
    branch = sys.argv[2] if len(sys.argv) > 2 else "main"
    async with Client() as client:
        summaries = await client.workflow_metrics(
            slug, branch=branch, reporting_window="last-90-days"
        ).collect()
        print(f"{'workflow':<20} {'runs':>5} {'success':>8} {'median s':>9} {'p95 s':>6}")
        for summary in sorted(summaries, key=lambda s: s.metrics.success_rate):
            m = summary.metrics
            print(
                f"{summary.name:<20} {m.total_runs:>5} {m.success_rate:>8.0%} "
                f"{m.duration_metrics.median:>9} {m.duration_metrics.p95:>6}"
            )
            # The jobs of the least successful workflows are where to look first.
            if m.success_rate < 1:
                async for job in client.workflow_job_metrics(
                    slug, summary.name, branch=branch, reporting_window="last-90-days"
                ):
                    print(f"    {job.name:<16} {job.metrics.success_rate:>8.0%}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
