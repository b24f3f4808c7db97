"""The Job operations of API v2."""

from __future__ import annotations

from .._pagination import Paginator
from .._slug import ProjectSlug
from ..models import Artifact, JobDetails, Message, TestMetadata
from ._base import APIBase, seg, slug_path

__all__ = ["JobAPI"]


class JobAPI(APIBase):
    """Job: job details, cancellation, artifacts and test results."""

    async def get_job(self, slug: str | ProjectSlug, job_number: int) -> JobDetails:
        """GET /project/{project-slug}/job/{job-number}

        A job's details.
        """
        return await self._call(
            "GET", f"/project/{slug_path(slug)}/job/{seg(int(job_number))}", JobDetails
        )

    async def cancel_job(self, slug: str | ProjectSlug, job_number: int) -> Message:
        """POST /project/{project-slug}/job/{job-number}/cancel

        Cancel a job by its number.
        """
        return await self._call(
            "POST", f"/project/{slug_path(slug)}/job/{seg(int(job_number))}/cancel", Message
        )

    async def cancel_job_by_id(self, job_id: str) -> Message:
        """POST /jobs/{job-id}/cancel

        Cancel a job by its id, which jobs that never got a number have too.
        """
        return await self._call("POST", f"/jobs/{seg(job_id)}/cancel", Message)

    def job_artifacts(
        self, slug: str | ProjectSlug, job_number: int, *, limit: int | None = None
    ) -> Paginator[Artifact]:
        """GET /project/{project-slug}/{job-number}/artifacts

        A job's artifacts. Their ``path`` is untrusted; their ``url`` is on another origin.
        """
        return self._paginate(
            f"/project/{slug_path(slug)}/{seg(int(job_number))}/artifacts", Artifact, limit=limit
        )

    def job_tests(
        self, slug: str | ProjectSlug, job_number: int, *, limit: int | None = None
    ) -> Paginator[TestMetadata]:
        """GET /project/{project-slug}/{job-number}/tests

        A job's test results.
        """
        return self._paginate(
            f"/project/{slug_path(slug)}/{seg(int(job_number))}/tests", TestMetadata, limit=limit
        )
