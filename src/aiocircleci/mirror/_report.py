"""What a mirror run tells its caller: the report, and the events on the way."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .._requester import RequestStats
from ..download import DownloadEvent, DownloadReport, FileResult
from ..errors import CircleCIError
from ..models import Job, Pipeline, Workflow

__all__ = [
    "FilePlanned",
    "JobSelected",
    "ListingFailed",
    "ListingFailure",
    "ManifestRebuilt",
    "MirrorEvent",
    "MirrorReport",
    "OnEvent",
    "PipelineSelected",
    "PlannedFile",
    "stats_mark",
]


@dataclass(frozen=True, slots=True)
class ListingFailure:
    """A listing that failed after the client's retries; what it would have found is missing."""

    what: str
    error: CircleCIError

    @property
    def reason(self) -> str:
        return str(self.error)


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedFile:
    """A file a dry run would download.

    ``size`` is known only from an earlier run's manifest (the API gives no
    sizes). ``status`` is ``new``, ``incomplete`` (a ``.part`` or a failed earlier
    try) or ``changed`` (recorded complete, but missing or different on disk).
    """

    path: str
    url: str
    status: str
    size: int | None = None


@dataclass(frozen=True, slots=True)
class PipelineSelected:
    pipeline: Pipeline


@dataclass(frozen=True, slots=True)
class JobSelected:
    pipeline: Pipeline
    workflow: Workflow
    job: Job


@dataclass(frozen=True, slots=True)
class FilePlanned:
    file: PlannedFile


@dataclass(frozen=True, slots=True)
class ListingFailed:
    failure: ListingFailure


@dataclass(frozen=True, slots=True)
class ManifestRebuilt:
    """The manifest was corrupt (or ``rebuild_manifest`` asked): the old file was moved
    to ``moved_to`` (kept, never deleted) and ``files`` rows were rebuilt from DEST.
    ``moved_to`` is ``None`` for a dry run, which moves and writes nothing."""

    reason: str
    moved_to: str | None
    files: int

    def line(self) -> str:
        if self.moved_to is None:
            return (
                f"the manifest is {self.reason}; it reads as empty now, and a run "
                "without --dry-run moves it aside and rebuilds it from the files in DEST"
            )
        return (
            f"the manifest was {self.reason}: kept it as {self.moved_to}, "
            f"rebuilt {self.files} rows from the files in DEST"
        )


MirrorEvent = (
    PipelineSelected | JobSelected | FilePlanned | ListingFailed | ManifestRebuilt | DownloadEvent
)
OnEvent = Callable[[MirrorEvent], None]


@dataclass(slots=True, kw_only=True)
class MirrorReport:
    """What a mirror run did.

    ``files_skipped`` counts files already complete in DEST. ``failed`` lists
    files that failed (with reasons), ``listing_failures`` the listings that did,
    and ``planned`` what a dry run would download. ``requests``, ``retries`` and
    ``rate_limited`` are the API requests this run made, retried, and got a 429 for.
    """

    dest: str
    dry_run: bool = False
    pipelines: int = 0
    workflows: int = 0
    jobs: int = 0
    files_done: int = 0
    files_skipped: int = 0
    failed: list[FileResult] = field(default_factory=list)
    listing_failures: list[ListingFailure] = field(default_factory=list)
    planned: list[PlannedFile] = field(default_factory=list)
    bytes: int = 0
    seconds: float = 0.0
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    manifest_rebuilt: ManifestRebuilt | None = None

    def count_requests(self, stats: RequestStats, before: tuple[int, int, int]) -> None:
        """The run's own API requests, retries and 429s: ``stats`` less ``before``
        (see ``stats_mark``), since a client may have served others first."""
        self.requests = stats.requests - before[0]
        self.retries = stats.retries - before[1]
        self.rate_limited = stats.rate_limited - before[2]

    @property
    def files_failed(self) -> int:
        return len(self.failed)

    @property
    def ok(self) -> bool:
        """True when no file and no listing failed."""
        return not self.failed and not self.listing_failures

    @property
    def planned_bytes(self) -> int:
        """Bytes of the planned files whose size is known."""
        return sum(p.size for p in self.planned if p.size is not None)

    def downloads(self) -> DownloadReport:
        """The file counts as a ``DownloadReport`` (what download summaries print)."""
        return DownloadReport(
            failed=list(self.failed),
            files_done=self.files_done,
            files_skipped=self.files_skipped,
            bytes=self.bytes,
            seconds=self.seconds,
        )

    def summary(self) -> str:
        listing = f", {len(self.listing_failures)} listings failed" if self.listing_failures else ""
        if self.dry_run:
            head = f"would download {len(self.planned)} files, {self.files_skipped} complete"
        else:
            head = self.downloads().summary()
        return (
            f"{head}; {self.pipelines} pipelines, {self.jobs} jobs; "
            f"{self.requests} API requests, {self.rate_limited} rate-limited{listing}"
        )


def stats_mark(stats: RequestStats) -> tuple[int, int, int]:
    """Where a client's counters stand as a run begins (for ``count_requests``)."""
    return (stats.requests, stats.retries, stats.rate_limited)
