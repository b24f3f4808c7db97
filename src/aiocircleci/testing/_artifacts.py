"""The artifact host and the storage host: addresses, signatures and range answers.

Artifact URLs look like the real ones on ``output.circle-artifacts.com``:
``/output/job/<job-uuid>/artifacts/<node>/<encoded path>``. Non-HTML artifacts
answer ``302`` to the storage host (S3 in real life) with a pre-signed URL
``/circleci-artifacts/<job-uuid>/<node>/<key>/<name>?X-Expires=..&X-Signature=..``;
the signature is an HMAC of the decoded path and the expiry, so any faithful
re-encoding of the URL still verifies, while a changed path or expiry does not.
"""

from __future__ import annotations

import email.utils
import hashlib
import hmac
import mimetypes
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlencode

from ._entities import Artifact
from ._http import Body, ByteRange, resolve_range
from ._world import World, unquote_artifact_path

__all__ = [
    "ArtifactAnswer",
    "StorageSigner",
    "answer_content",
    "parse_artifact_path",
    "parse_storage_path",
    "s3_error",
    "storage_path",
]

STORAGE_BUCKET = "circleci-artifacts"
_ARTIFACT_PREFIX = "/output/job/"


def parse_artifact_path(world: World, raw_path: str) -> Artifact | None:
    """The artifact an artifact-host path names, or ``None``."""
    if not raw_path.startswith(_ARTIFACT_PREFIX):
        return None
    job_id, sep, rest = raw_path[len(_ARTIFACT_PREFIX) :].partition("/artifacts/")
    node, _, encoded = rest.partition("/")
    if not sep or not node.isdigit() or not encoded:
        return None
    try:
        return world.artifact(unquote(job_id), int(node), unquote_artifact_path(encoded))
    except KeyError:
        return None


def storage_path(artifact: Artifact) -> str:
    """The storage key of an artifact: unique, and free of dot segments whatever its path."""
    name = quote(posixpath.basename(artifact.path) or "artifact", safe="")
    return f"/{STORAGE_BUCKET}/{artifact.job_id}/{artifact.node_index}/{artifact.seed:016x}/{name}"


def parse_storage_path(world: World, raw_path: str) -> Artifact | None:
    parts = raw_path.strip("/").split("/")
    if len(parts) != 5 or parts[0] != STORAGE_BUCKET or not parts[2].isdigit():
        return None
    _, job_id, node, key, _name = parts
    try:
        artifacts = world.artifacts(job_id)
    except KeyError:
        return None
    for artifact in artifacts:
        if artifact.node_index == int(node) and f"{artifact.seed:016x}" == key:
            return artifact
    return None


class StorageSigner:
    """Signs storage URLs with an expiry, and checks them the way S3 does."""

    __slots__ = ("_secret", "ttl")

    def __init__(self, secret: bytes, ttl: float) -> None:
        self._secret = secret
        self.ttl = ttl

    def _signature(self, path: str, expires: str) -> str:
        message = f"{unquote(path)}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, path: str, now: float) -> str:
        """``path?X-Expires=...&X-Signature=...``, valid for ``ttl`` seconds from ``now``."""
        expires = str(int(now + self.ttl))
        query = urlencode({"X-Expires": expires, "X-Signature": self._signature(path, expires)})
        return f"{path}?{query}"

    def check(
        self, path: str, expires: str | None, signature: str | None, now: float
    ) -> tuple[str, str] | None:
        """``None`` if valid, else the S3 error code and message to answer 403 with."""
        if not expires or not signature or not expires.isdigit():
            return "AccessDenied", "Query-string authentication requires X-Expires and X-Signature"
        if not hmac.compare_digest(self._signature(path, expires), signature):
            return "SignatureDoesNotMatch", "The request signature we calculated does not match"
        if now > int(expires):
            return "AccessDenied", "Request has expired"
        return None


def s3_error(code: str, message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()


@dataclass(frozen=True, slots=True)
class ArtifactAnswer:
    status: int
    headers: dict[str, str]
    body: Body


def answer_content(
    world: World, artifact: Artifact, request_headers: Mapping[str, str], *, ranges: bool = True
) -> ArtifactAnswer:
    """200, 206 or 416 for an artifact's bytes, honouring ``Range`` and ``If-Range``.

    The body is always identity-encoded whatever ``Accept-Encoding`` asks for,
    so byte counts and offsets are those of the stored bytes. With ``ranges``
    false the host acts as a server without range support: no ``Accept-Ranges``,
    and the whole body with 200 whatever ``Range`` asks for.
    """
    job = world.job(artifact.job_id)
    modified = job.stopped_at if job.stopped_at is not None else job.created_at
    last_modified = email.utils.formatdate(modified, usegmt=True)
    content_type = mimetypes.guess_type(artifact.path)[0] or "application/octet-stream"
    headers = {
        "ETag": artifact.etag,
        "Last-Modified": last_modified,
        "Content-Type": content_type,
    }
    size = artifact.size
    if not ranges:
        return ArtifactAnswer(200, headers, Body(size, chunks=artifact.iter_bytes()))
    headers["Accept-Ranges"] = "bytes"
    outcome = resolve_range(request_headers, size, artifact.etag, last_modified)
    if outcome == "unsatisfiable":
        headers["Content-Range"] = f"bytes */{size}"
        headers["Content-Type"] = "application/xml"
        return ArtifactAnswer(
            416,
            headers,
            Body.of(s3_error("InvalidRange", "The requested range is not satisfiable")),
        )
    if isinstance(outcome, ByteRange):
        headers["Content-Range"] = outcome.content_range(size)
        length = outcome.end - outcome.start
        return ArtifactAnswer(
            206, headers, Body(length, chunks=artifact.iter_bytes(outcome.start, outcome.end))
        )
    return ArtifactAnswer(200, headers, Body(size, chunks=artifact.iter_bytes()))
