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
        # A summary may lack any metric (the API omits what it cannot compute).
        rated = [
            (s, s.metrics) for s in summaries if s.metrics and s.metrics.success_rate is not None
        ]
        for summary, m in sorted(rated, key=lambda pair: pair[1].success_rate or 0.0):
            rate = m.success_rate or 0.0
            durations = m.duration_metrics
            median = durations.median if durations else None
            p95 = durations.p95 if durations else None
            print(f"{summary.name:<20} {m.total_runs:>5} {rate:>8.0%} {median!s:>9} {p95!s:>6}")
            # The jobs of the least successful workflows are where to look first.
            if rate < 1:
                async for job in client.workflow_job_metrics(
                    slug, summary.name, branch=branch, reporting_window="last-90-days"
                ):
                    job_rate = job.metrics.success_rate if job.metrics else None
                    print(f"    {job.name:<16} {job_rate or 0.0:>8.0%}")


if __name__ == "__main__":
    anyio.run(main, backend="asyncio")
