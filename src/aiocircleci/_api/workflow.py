from __future__ import annotations

from collections.abc import Sequence

from .._pagination import Paginator
from ..models import Job, Message, RerunResult, Workflow
from ._base import APIBase, seg

__all__ = ["WorkflowAPI"]


class WorkflowAPI(APIBase):
    """Workflow: workflows, their jobs, and cancel, rerun and approve."""

    async def get_workflow(self, workflow_id: str) -> Workflow:
        """GET /workflow/{id}

        A workflow by id.
        """
        return await self._call("GET", f"/workflow/{seg(workflow_id)}", Workflow)

    def workflow_jobs(self, workflow_id: str, *, limit: int | None = None) -> Paginator[Job]:
        """GET /workflow/{id}/job

        The jobs of a workflow. Approval jobs and jobs not yet started have no ``job_number``.
        """
        return self._paginate(f"/workflow/{seg(workflow_id)}/job", Job, limit=limit)

    async def cancel_workflow(self, workflow_id: str) -> Message:
        """POST /workflow/{id}/cancel

        Cancel a running workflow.
        """
        return await self._call("POST", f"/workflow/{seg(workflow_id)}/cancel", Message)

    async def rerun_workflow(
        self,
        workflow_id: str,
        *,
        from_failed: bool = False,
        jobs: Sequence[str] | None = None,
        enable_ssh: bool | None = None,
        sparse_tree: bool | None = None,
    ) -> RerunResult:
        """POST /workflow/{id}/rerun

        Rerun a workflow, whole, from its failed jobs, or only the given job ids.
        """
        if from_failed and jobs:
            raise ValueError("rerun_workflow takes from_failed or jobs, not both")
        body: dict[str, object] = {}
        if from_failed:
            body["from_failed"] = True
        if jobs:
            body["jobs"] = list(jobs)
        if enable_ssh is not None:
            body["enable_ssh"] = enable_ssh
        if sparse_tree is not None:
            body["sparse_tree"] = sparse_tree
        return await self._call(
            "POST", f"/workflow/{seg(workflow_id)}/rerun", RerunResult, json=body
        )

    async def approve_job(self, workflow_id: str, approval_request_id: str) -> Message:
        """POST /workflow/{id}/approve/{approval_request_id}

        Approve a pending approval job.
        """
        return await self._call(
            "POST",
            f"/workflow/{seg(workflow_id)}/approve/{seg(approval_request_id)}",
            Message,
        )
