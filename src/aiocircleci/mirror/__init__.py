"""Mirror every artifact of chosen pipelines to disk: fast, under the rate limit, incrementally.

::

    async with Client() as client:
        report = await mirror_artifacts(
            client,
            ["gh/my-org/my-repo"],
            "mirror",
            selection=Selection(branches=("main",), since=timedelta(days=7)),
        )
    print(report.summary())

Listing is a pipeline of stages joined by bounded memory object streams, all in
one task group: pipelines (newest first, one lister per project and branch, or
per organization) → workflows and their jobs (``listers // 4`` tasks) →
artifacts (``listers`` tasks). Every API call passes the client's limiter, so the
stages share one request budget and keep it busy. Each artifact goes to the
downloader as soon as its job's listing arrives, so downloads start within the
first few requests. Approval jobs and jobs without a number are skipped, and a
job reached through a rerun workflow is taken once (through the oldest workflow
that lists it).

Files land in ``DEST/<vcs>/<org>/<repo>/<pipeline-number>/<workflow-name>-<workflow-id8>/``
``<job-name>-<job-number>/<node_index>/<path>``. Names from the API are
sanitised like artifact paths (``/`` in a name becomes ``_``), and two artifacts
of a job whose paths would collide get distinct names (``name~2.ext``).

``DEST/.aiocircleci-manifest.sqlite`` (see ``_manifest``) records every file.
A file whose row says complete and whose size on disk matches is skipped without
any request; a finished job whose files are all complete is not even listed
again, nor are the jobs of a finished workflow. Files cut short by a crash are
resumed by the downloader from their ``.part``.
"""

from __future__ import annotations

from .._manifest import MANIFEST_NAME
from .._selection import Globs, Selection, parse_time
from ._layout import files_on_disk, job_directory
from ._mirror import DEFAULT_LISTERS, DEFAULT_WORKERS, Mirror, mirror_artifacts
from ._report import (
    FilePlanned,
    JobSelected,
    ListingFailed,
    ListingFailure,
    ManifestRebuilt,
    MirrorEvent,
    MirrorReport,
    PipelineSelected,
    PlannedFile,
)
from ._store import StoreMirror

__all__ = [
    "DEFAULT_LISTERS",
    "DEFAULT_WORKERS",
    "MANIFEST_NAME",
    "FilePlanned",
    "Globs",
    "JobSelected",
    "ListingFailed",
    "ListingFailure",
    "ManifestRebuilt",
    "Mirror",
    "MirrorEvent",
    "MirrorReport",
    "PipelineSelected",
    "PlannedFile",
    "Selection",
    "StoreMirror",
    "files_on_disk",
    "job_directory",
    "mirror_artifacts",
    "parse_time",
]
