"""What to do with each artifact of a job: pure decisions, no disk and no network.

``claim_entries`` gives every artifact of a job its path in DEST (files an
earlier run recorded keep theirs; collisions get ``name~2``); ``file_state`` says
from the manifest's row and what stands at the path whether the file is
complete, new, missing, changed or unsafe; ``url_problem`` catches an artifact
URL that could never be fetched before it reaches the downloader.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from .._http import redact_url
from .._manifest import ManifestRow
from .._paths import PathClaims, safe_relpath
from .._selection import Selection
from ..errors import UnsafePath
from ..models import Artifact, Job, Pipeline, Workflow
from ._layout import JOB_DEPTH, job_directory

__all__ = [
    "Entry",
    "JobWork",
    "State",
    "claim_entries",
    "file_state",
    "job_base",
    "url_problem",
]


@dataclass(slots=True)
class JobWork:
    pipeline: Pipeline
    workflow: Workflow
    job: Job

    @property
    def slug(self) -> str:
        return self.pipeline.project_slug

    @property
    def number(self) -> int:
        assert self.job.job_number is not None
        return self.job.job_number

    def describe(self) -> str:
        return (
            f"job {self.job.name} #{self.number} of {self.slug} pipeline "
            f"#{self.pipeline.number} ({self.workflow.name})"
        )


@dataclass(slots=True)
class Entry:
    work: JobWork
    artifact: Artifact
    rel: str
    row: ManifestRow | None
    error: UnsafePath | None = None

    def row_for(self, **values: Any) -> ManifestRow:
        work, artifact = self.work, self.artifact
        return ManifestRow(
            path=self.rel,
            url=redact_url(artifact.url),
            project_slug=work.slug,
            pipeline_id=work.pipeline.id,
            pipeline_number=work.pipeline.number,
            workflow_id=work.workflow.id,
            workflow_name=work.workflow.name,
            job_number=work.number,
            job_name=work.job.name,
            node_index=artifact.node_index,
            artifact_path=artifact.path,
            **values,
        )


class State(enum.Enum):
    """What an artifact's file on disk needs."""

    COMPLETE = "complete"  # recorded complete, same size (and hash) on disk: skip
    NEW = "new"  # never recorded complete: download (or resume its .part)
    MISSING = "missing"  # recorded complete, gone from disk: download again
    CHANGED = "changed"  # recorded complete, different on disk: replace
    UNSAFE = "unsafe"  # its path cannot be made safe: fail


def file_state(
    row: ManifestRow | None, size_on_disk: int | None, digest: str | None = None
) -> State:
    """The state of a file from its row and the regular file found at its path.

    ``size_on_disk`` is ``None`` when nothing stands there; ``digest`` is the
    file's sha256 when it was hashed (``--verify``), else ``None``.
    """
    if size_on_disk is None:
        return State.MISSING if row is not None and row.complete else State.NEW
    if row is None or not row.complete:
        return State.NEW
    if size_on_disk != row.size:
        return State.CHANGED
    if digest is not None and digest != row.sha256:
        return State.CHANGED
    return State.COMPLETE


def job_base(work: JobWork, rows: Mapping[tuple[int, str], ManifestRow]) -> str:
    """The job's directory: where an earlier run put it, else from the layout."""
    for row in rows.values():
        parts = PurePosixPath(row.path).parts
        if len(parts) > JOB_DEPTH:
            return "/".join(parts[:JOB_DEPTH])
    return job_directory(
        work.slug,
        work.pipeline.number,
        work.workflow.name,
        work.workflow.id,
        work.job.name,
        work.number,
    )


def claim_entries(
    selection: Selection,
    work: JobWork,
    base: str,
    artifacts: Iterable[Artifact],
    rows: Mapping[tuple[int, str], ManifestRow],
) -> list[Entry]:
    claims = PathClaims()
    chosen = [
        (artifact, rows.get((artifact.node_index, artifact.path)))
        for artifact in artifacts
        if selection.takes_artifact(artifact.path)
    ]
    entries: dict[int, Entry] = {}
    # Files an earlier run recorded keep their paths: they claim first, so a new
    # artifact "a" beside a recorded "a/b" is the one renamed (a~2), never skipped.
    for recorded in (True, False):
        for index, (artifact, row) in enumerate(chosen):
            if (row is not None) is not recorded:
                continue
            try:
                if row is not None:
                    rel = safe_relpath(row.path)
                else:
                    # The artifact's path alone first: its ".." must not climb into our layout.
                    inner = safe_relpath(artifact.path)
                    rel = safe_relpath(f"{base}/{artifact.node_index}/{inner}")
                rel = claims.claim(rel)
            except UnsafePath as exc:
                entries[index] = Entry(work, artifact, "", None, exc)
                continue
            entries[index] = Entry(work, artifact, str(rel), row)
    return [entries[i] for i in sorted(entries)]


def url_problem(url: str) -> str | None:
    """Why an artifact URL cannot be fetched at all, or ``None`` (checked before queueing,
    so one bad URL fails its file alone)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        return f"the artifact URL is not valid: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the artifact URL is not an http(s) URL"
    return None
