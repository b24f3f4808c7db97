"""Where a mirrored file goes in DEST, and what DEST already holds (for a rebuild).

``DEST/<vcs>/<org>/<repo>/<pipeline-number>/<workflow-name>-<workflow-id8>/``
``<job-name>-<job-number>/<node_index>/<path>``: names from the API are
sanitised like artifact paths (``/`` in a name becomes ``_``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
from collections.abc import Iterator
from typing import Final

from .._manifest import COMPLETE, ManifestRow
from .._paths import RESERVED_SUFFIXES, safe_relpath
from .._slug import ProjectSlug

__all__ = ["JOB_DEPTH", "files_on_disk", "job_directory"]

# The layout's depth above <node_index>: vcs, org, repo, pipeline, workflow, job.
JOB_DEPTH: Final = 6


def _name(text: str) -> str:
    """One path component from a name the API gave (workflow, job, slug segment)."""
    cleaned = text.replace("/", "_").replace("\\", "_")
    if cleaned.strip(".") == "":
        cleaned = cleaned.replace(".", "_") or "_"
    return str(safe_relpath(cleaned))


def job_directory(
    project_slug: str | ProjectSlug,
    pipeline_number: int,
    workflow_name: str,
    workflow_id: str,
    job_name: str,
    job_number: int,
) -> str:
    """``<vcs>/<org>/<repo>/<pipeline-number>/<workflow-name>-<id8>/<job-name>-<job-number>``"""
    slug = ProjectSlug.parse(project_slug)
    parts = (
        _name(slug.vcs),
        _name(slug.org),
        _name(slug.repo),
        str(int(pipeline_number)),
        _name(f"{workflow_name}-{workflow_id[:8]}"),
        _name(f"{job_name}-{int(job_number)}"),
    )
    return "/".join(parts)


def _row_from_layout(rel: str) -> ManifestRow | None:
    """The manifest row the layout implies for ``rel`` (``None``: not a mirrored file)."""
    parts = rel.split("/")
    if len(parts) <= JOB_DEPTH + 1:
        return None
    vcs, org, repo, pipeline, workflow, job, node = parts[: JOB_DEPTH + 1]
    workflow_name, _, workflow_id = workflow.rpartition("-")
    job_name, _, job_number = job.rpartition("-")
    if not (pipeline.isdigit() and node.isdigit() and job_number.isdigit() and workflow_name):
        return None
    return ManifestRow(
        path=rel,
        url="",
        size=None,
        sha256=None,
        status=COMPLETE,
        project_slug=f"{vcs}/{org}/{repo}",
        pipeline_id="",
        pipeline_number=int(pipeline),
        workflow_id=workflow_id,
        workflow_name=workflow_name,
        job_number=int(job_number),
        job_name=job_name,
        node_index=int(node),
        artifact_path="/".join(parts[JOB_DEPTH + 1 :]),
    )


def files_on_disk(dest: str | os.PathLike[str], *, verify: bool = False) -> Iterator[ManifestRow]:
    """Manifest rows for the complete files under DEST's layout, read lazily from disk.

    Regular files only (``os.walk`` follows no symlink, and ``lstat`` decides);
    ``.part`` files and anything outside the layout are left out. ``verify``
    hashes each file (sha256); otherwise only sizes are recorded.
    """
    root = os.fspath(dest)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == ".":
            continue  # DEST's own files: the manifest, the lock
        prefix = rel_dir.replace(os.sep, "/")
        for name in sorted(filenames):
            if name.endswith(RESERVED_SUFFIXES):
                continue
            row = _row_from_layout(f"{prefix}/{name}")
            if row is None:
                continue
            full = os.path.join(dirpath, name)
            try:
                found = os.lstat(full)
                if not stat.S_ISREG(found.st_mode):
                    continue
                size, sha = found.st_size, None
                if verify:
                    sha = _sha256_of(full)
            except OSError:
                continue  # gone meanwhile: the next run fetches it
            yield dataclasses.replace(row, size=size, sha256=sha)


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
