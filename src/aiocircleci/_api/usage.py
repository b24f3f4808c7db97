"""The Usage operations of API v2."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..models import Model, UsageExportJob
from ._base import APIBase, seg

__all__ = ["UsageAPI"]


class _NewUsageExport(Model, frozen=True):
    start: datetime
    end: datetime
    shared_org_ids: list[str] | None = None


def _aware(moment: datetime, name: str) -> datetime:
    # A naive datetime would go out without an offset and mean whatever the server assumes.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} needs a timezone, such as datetime.now(UTC)")
    return moment


class UsageAPI(APIBase):
    """Usage: exports of an organization's usage data, made asynchronously."""

    async def create_usage_export(
        self,
        org_id: str,
        *,
        start: datetime,
        end: datetime,
        shared_org_ids: Sequence[str] | None = None,
    ) -> UsageExportJob:
        """POST /organizations/{org_id}/usage_export_job

        Ask for a usage export of ``start``..``end`` (at most 31 days, within the last year).

        The job starts in state ``created``; poll ``get_usage_export`` until it is
        ``completed`` (then ``download_urls`` are set) or ``failed``.
        """
        body = _NewUsageExport(
            start=_aware(start, "start"),
            end=_aware(end, "end"),
            shared_org_ids=None if shared_org_ids is None else list(shared_org_ids),
        )
        return await self._call(
            "POST", f"/organizations/{seg(org_id)}/usage_export_job", UsageExportJob, json=body
        )

    async def get_usage_export(self, org_id: str, job_id: str) -> UsageExportJob:
        """GET /organizations/{org_id}/usage_export_job/{usage_export_job_id}

        The state of a usage export and, once completed, where to download it.
        """
        return await self._call(
            "GET",
            f"/organizations/{seg(org_id)}/usage_export_job/{seg(job_id)}",
            UsageExportJob,
        )
