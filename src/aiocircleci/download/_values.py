"""The downloader's values: requests, results, events and the run's report."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field

from .._http import redact_url
from ..errors import CircleCIError

__all__ = [
    "DownloadDone",
    "DownloadEvent",
    "DownloadFailed",
    "DownloadProgress",
    "DownloadQueued",
    "DownloadReport",
    "DownloadRequest",
    "DownloadSkipped",
    "DownloadStarted",
    "FileResult",
    "FileStatus",
    "Subscriber",
]


@dataclass(frozen=True, slots=True)
class DownloadRequest:
    """One file to fetch: its URL and an untrusted relative target path.

    ``size`` and ``sha256`` (hex), when known, are checked before the file gets
    its final name, and let skip-existing recognise a complete file.
    """

    url: str
    path: str
    _: KW_ONLY
    size: int | None = None
    sha256: str | None = None

    def __repr__(self) -> str:
        return f"DownloadRequest({redact_url(self.url)!r}, {self.path!r})"


class FileStatus(enum.StrEnum):
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class FileResult:
    """What became of one request.

    ``path`` is the safe relative POSIX path written (``""`` when the request's
    path was unsafe). ``size`` and ``sha256`` describe the file on disk (sha256 is
    ``None`` for a skipped file whose hash was not needed). ``error`` says why a
    failed file failed.
    """

    request: DownloadRequest
    status: FileStatus
    path: str = ""
    size: int = 0
    sha256: str | None = None
    attempts: int = 0
    error: CircleCIError | None = None

    @property
    def reason(self) -> str:
        return "" if self.error is None else str(self.error)


@dataclass(frozen=True, slots=True)
class DownloadQueued:
    request: DownloadRequest


@dataclass(frozen=True, slots=True)
class DownloadStarted:
    """The first response for a file: ``total`` bytes (``None`` if unknown), of which
    ``offset`` were already on disk (a resumed ``.part``)."""

    request: DownloadRequest
    path: str
    total: int | None
    offset: int


@dataclass(frozen=True, slots=True)
class DownloadProgress:
    """``delta`` bytes more on disk; negative when a download starts over."""

    request: DownloadRequest
    path: str
    delta: int


@dataclass(frozen=True, slots=True)
class DownloadDone:
    result: FileResult


@dataclass(frozen=True, slots=True)
class DownloadSkipped:
    result: FileResult


@dataclass(frozen=True, slots=True)
class DownloadFailed:
    result: FileResult


DownloadEvent = (
    DownloadQueued
    | DownloadStarted
    | DownloadProgress
    | DownloadDone
    | DownloadSkipped
    | DownloadFailed
)
Subscriber = Callable[[DownloadEvent], None]


@dataclass(slots=True, kw_only=True)
class DownloadReport:
    """Files done, skipped and failed, bytes received and seconds taken.

    With ``keep_results=False`` the downloader keeps only the counts of done and
    skipped files (the failed ones are always listed), for lists too long to hold.
    ``processes_lost`` counts worker processes (``processes > 1``) that died
    mid-run; the files they held were downloaded by the parent instead.
    """

    done: list[FileResult] = field(default_factory=list)
    skipped: list[FileResult] = field(default_factory=list)
    failed: list[FileResult] = field(default_factory=list)
    files_done: int = 0
    files_skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0
    processes_lost: int = 0

    @property
    def files_failed(self) -> int:
        return len(self.failed)

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def summary(self) -> str:
        mb = self.bytes / 1e6
        rate = mb / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{self.files_done} done, {self.files_skipped} skipped, {self.files_failed} failed; "
            f"{mb:.1f} MB in {self.seconds:.2f} s ({rate:.1f} MB/s)"
        )
