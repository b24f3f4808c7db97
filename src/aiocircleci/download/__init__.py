"""Where a body hits the disk: the concurrent artifact download pipeline.

::

    async with Downloader("out", client=client) as dl:
        async for artifact in client.job_artifacts(slug, number):
            await dl.submit(DownloadRequest(artifact.url, artifact.path))
    print(dl.report.summary())

The package, one job per module:

- ``_values``: requests, results, events, the report;
- ``_classify``: ``classify_response``, the pure decision of what a response
  means for a file (resume, restart, complete, fail);
- ``_partfile``: ``PartFile``, the ``.part``, its ``.part.meta``, the digest,
  the offset and publishing, every operation through DEST's directory
  descriptors without following a symlink;
- ``_file``: ``FileDownload``, one file's loop (ask, stream, retry) on top of both;
- ``_segmented``: a large file as ranges over several connections
  (``_segments.fetch_segments``) into its ``PartFile``, resumable segment by segment;
- ``_downloader``: ``Downloader``, the queue, workers and budgets;
- ``_processes``: ``processes=N``, the worker processes and the pumps that feed them;
- ``_child``: a worker process's entry point; ``_wire``: the frames both sides speak.
"""

from __future__ import annotations

from .._segments import DEFAULT_SEGMENTS, SegmentConfig
from .._send import MAX_REDIRECTS
from ._classify import Complete, Fail, Restart, Resume, classify_response
from ._downloader import DEFAULT_CHUNK_SIZE, DEFAULT_WORKERS, Downloader, download_all
from ._file import MAX_REFETCHES, FileDownload
from ._partfile import PartFile, PartInUse, nofollow_opener
from ._values import (
    DownloadDone,
    DownloadEvent,
    DownloadFailed,
    DownloadProgress,
    DownloadQueued,
    DownloadReport,
    DownloadRequest,
    DownloadSkipped,
    DownloadStarted,
    FileResult,
    FileStatus,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_SEGMENTS",
    "DEFAULT_WORKERS",
    "MAX_REDIRECTS",
    "MAX_REFETCHES",
    "Complete",
    "DownloadDone",
    "DownloadEvent",
    "DownloadFailed",
    "DownloadProgress",
    "DownloadQueued",
    "DownloadReport",
    "DownloadRequest",
    "DownloadSkipped",
    "DownloadStarted",
    "Downloader",
    "Fail",
    "FileDownload",
    "FileResult",
    "FileStatus",
    "PartFile",
    "PartInUse",
    "Restart",
    "Resume",
    "SegmentConfig",
    "classify_response",
    "download_all",
    "nofollow_opener",
]
