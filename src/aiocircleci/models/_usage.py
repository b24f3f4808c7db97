"""Models of the Usage operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = ["UsageExportJob", "UsageExportState"]


class UsageExportState(StatusEnum):
    CREATED = "created"
    PROCESSING = "processing"
    FAILED = "failed"
    COMPLETED = "completed"
    UNKNOWN = "unknown"


class UsageExportJob(Model, frozen=True):
    """A usage export of an organization, as created and as polled afterwards.

    ``download_urls`` fill in once ``state`` is ``completed``; a ``failed`` job says
    why in ``error_reason``. ``start`` and ``end`` come back only on creation.
    """

    usage_export_job_id: str
    state: UsageExportState | None = None
    download_urls: list[str] = []
    start: datetime | None = None
    end: datetime | None = None
    error_reason: str | None = None
