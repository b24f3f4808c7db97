"""Object-store destinations: ``s3://BUCKET/PREFIX`` (and ``gs://``, ``az://``).

A DEST that names a URL scheme is an object store, never a local directory:
``parse_dest`` returns ``None`` for a plain path, a ``StoreURL`` for a scheme
we support, and raises ``ConfigurationError`` for any other scheme (``ftp://``,
``file://``, a typo such as ``s4://``), so that nothing is ever written under a
local directory named ``s3:``.

The store is reached through obstore (the ``cloud`` extra), imported only when
a store is opened, so that parsing and refusing a DEST works without it.

Credentials and endpoint
------------------------
For ``s3://`` the standard variables are read here and nowhere else, by
``StoreSettings.from_env``: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``, ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``) and
``AWS_ENDPOINT_URL``. Plain http is allowed only when the endpoint itself says
``http://`` (a local MinIO or moto). For ``gs://`` and ``az://`` obstore reads
the variables of those services (``GOOGLE_*``, ``AZURE_*``) itself.

Uploads
-------
``ObjectStoreWriter.upload(key, chunks)`` streams an async iterator of body
chunks into a multipart upload with parts of ``part_size`` bytes, at most
``max_concurrency`` parts in flight (a body smaller than one part goes out as
one PUT): memory stays near ``part_size * (max_concurrency + 1)`` whatever the
size of the body, and no local copy is made. S3 shows an object under its key
only when the upload is completed, so an upload that fails or is cancelled is
aborted, and one whose process is killed leaves no visible object either (only
invisible parts, which a bucket lifecycle rule for incomplete multipart uploads
reclaims). The sha256 and size are computed while the chunks pass through.

Known issue (obstore 0.12, Python 3.11): a process that leaves its event loop
right after an upload may abort while the interpreter finalizes (exit status
-6, 8 runs of 30 for a script that uploads one object and returns), when
obstore's tokio threads still call into Python. The CLI never exits that way:
a process that loaded obstore leaves through ``cli._common.exit_after_store``
(output flushed, then ``os._exit``), once every upload is complete or aborted.
A program of your own that uploads and then exits can do the same.

The manifest that lives with the bucket
---------------------------------------
The sha256 of a streamed body is known only at its end, after the object's
metadata has been sent, so it cannot live in the object's own metadata. It
lives in one small manifest object per CircleCI job::

    PREFIX/.aiocircleci/jobs/<project-slug>/<job-number>.json

written (in one atomic PUT) after every artifact of that job is uploaded. It
lists each object's key, size and sha256. A job belongs to one pipeline, and a
pipeline to exactly one shard (``_shard.py``), so N machines mirroring
disjoint shards into one bucket never write the same object: there is no
shared manifest to contend on, no lock and no read-modify-write. A re-run from
any machine reads ``complete_jobs`` (one listing of the manifest prefix, then
one GET per manifest) and treats a job as done when its manifest exists and a
listing of the data shows every object it names with the recorded size. A job
whose upload was interrupted has no manifest yet and is simply done again;
uploading an object again under the same key replaces it whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import AsyncIterable, Awaitable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Final, Self, TypeVar
from urllib.parse import quote, urlsplit

import anyio
import msgspec

from ._config import StoreSettings
from .errors import ConfigurationError, ObjectStoreError, UnsafePath

if TYPE_CHECKING:
    from obstore.store import ObjectStore

__all__ = [
    "CLOUD_EXTRA_HINT",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_PART_SIZE",
    "MANIFEST_PREFIX",
    "SUPPORTED_SCHEMES",
    "JobManifest",
    "ObjectStoreWriter",
    "StoreSettings",
    "StoreURL",
    "StoredObject",
    "parse_dest",
]

SUPPORTED_SCHEMES: Final = ("s3", "gs", "az")
# S3's minimum part size is 5 MiB (except the last part); 8 MiB is what the
# AWS CLI uses.
DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024
MIN_PART_SIZE: Final = 5 * 1024 * 1024
# Parts in flight per upload. A mirror uploads many files at once, so its
# parallelism comes from files; each upload holds about part_size * (this + 1).
DEFAULT_MAX_CONCURRENCY: Final = 2
MANIFEST_PREFIX: Final = ".aiocircleci/jobs"
CLOUD_EXTRA_HINT: Final = "pip install 'aiocircleci[cloud]'"
_ABORT_TIMEOUT: Final = 10.0

T = TypeVar("T")

# A scheme as RFC 3986 spells it, followed by "://"; "C:\\x" and "./a:b" are paths.
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


@dataclass(frozen=True, slots=True)
class StoreURL:
    """A parsed object-store DEST: ``scheme://bucket/prefix`` (no slash at the prefix's ends)."""

    scheme: str
    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        tail = f"/{self.prefix}" if self.prefix else ""
        return f"{self.scheme}://{self.bucket}{tail}"

    def __str__(self) -> str:
        return self.url


def parse_dest(dest: str) -> StoreURL | None:
    """``None`` for a local path; a ``StoreURL`` for ``s3://``, ``gs://``, ``az://``.

    Raises ``ConfigurationError`` (one line) for any other scheme, a missing
    bucket, or a prefix with empty, ``.`` or ``..`` segments.
    """
    match = _SCHEME.match(dest)
    if match is None:
        return None
    scheme = match.group(1).lower()
    if scheme not in SUPPORTED_SCHEMES:
        supported = ", ".join(f"{s}://" for s in SUPPORTED_SCHEMES)
        raise ConfigurationError(
            f"--dest {_shown(dest)}: unsupported scheme {scheme}:// "
            f"(a local directory, or one of {supported})"
        )
    parts = urlsplit(dest)
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise ConfigurationError(
            f"--dest {_shown(dest)}: expected {scheme}://BUCKET/PREFIX, "
            "with no user, query or fragment"
        )
    bucket = parts.netloc
    if not _BUCKET.match(bucket):
        raise ConfigurationError(f"--dest {_shown(dest)}: expected {scheme}://BUCKET/PREFIX")
    prefix = parts.path.strip("/")
    if prefix and any(seg in ("", ".", "..") for seg in prefix.split("/")):
        raise ConfigurationError(
            f"--dest {_shown(dest)}: the prefix may not hold empty, '.' or '..' segments"
        )
    return StoreURL(scheme, bucket, prefix)


def _shown(dest: str) -> str:
    # A DEST is not a secret, but a pasted URL could carry one in user info.
    parts = urlsplit(dest)
    if "@" in parts.netloc:
        return f"{parts.scheme}://***@{parts.netloc.rsplit('@', 1)[1]}{parts.path}"
    return dest


class StoredObject(msgspec.Struct, kw_only=True, frozen=True):
    """One complete object: its key relative to the DEST prefix, size and sha256 (hex)."""

    key: str
    size: int
    sha256: str


class JobManifest(msgspec.Struct, kw_only=True, frozen=True):
    """What one CircleCI job left in the bucket; written once its objects are all complete.

    ``whole``: the objects are every artifact of a finished job. A manifest written
    under an artifact filter, or while the job still ran, is not: a later run lists
    the job again and copies what it lacks.
    """

    project_slug: str
    job_number: int
    objects: tuple[StoredObject, ...]
    whole: bool = True
    version: int = 1


_encode = msgspec.json.Encoder().encode
_decode_manifest = msgspec.json.Decoder(JobManifest).decode


def manifest_key(project_slug: str, job_number: int) -> str:
    """Where the manifest of one job lives, relative to the DEST prefix."""
    slug = "/".join(quote(seg, safe="") for seg in project_slug.split("/"))
    return f"{MANIFEST_PREFIX}/{slug}/{int(job_number)}.json"


def check_key(key: str) -> str:
    """A relative object key with no empty, ``.`` or ``..`` segment, else ``UnsafePath``."""
    if not key or key.startswith("/") or "\\" in key or "\0" in key:
        raise UnsafePath(f"unsafe object key {key!r}", path=key)
    if any(seg in ("", ".", "..") for seg in key.split("/")):
        raise UnsafePath(f"unsafe object key {key!r}", path=key)
    return key


def open_store(url: StoreURL, settings: StoreSettings) -> ObjectStore:
    """An obstore store rooted at ``url``'s prefix; ``ConfigurationError`` without the extra."""
    try:
        from obstore.store import S3Store, from_url
    except ImportError as exc:
        raise ConfigurationError(
            f"--dest {url}: object-store destinations need the cloud extra: {CLOUD_EXTRA_HINT}"
        ) from exc
    prefix = url.prefix or None
    try:
        if url.scheme == "s3":
            options = {"allow_http": True} if settings.allow_http else None
            config = {
                name: value
                for name, value in (
                    ("access_key_id", settings.access_key_id),
                    ("secret_access_key", settings.secret_access_key),
                    ("session_token", settings.session_token),
                    ("region", settings.region),
                    ("endpoint", settings.endpoint),
                )
                if value is not None
            }
            return S3Store(
                url.bucket,
                prefix=prefix,
                config=config,  # type: ignore[arg-type]  # keys are S3Config's
                client_options=options,  # type: ignore[arg-type]
            )
        return from_url(url.url)
    except Exception as exc:  # obstore raises its own errors and ValueError
        raise ConfigurationError(f"--dest {url}: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    """A short reason from obstore's multi-line error text (status and S3 error code)."""
    text = str(exc)
    status = re.search(r"status: (\d{3})", text)
    code = re.search(r"<Code>([A-Za-z]+)</Code>", text)
    if status or code:
        return " ".join(
            part
            for part in ("HTTP " + status.group(1) if status else "", code and code.group(1))
            if part
        )
    lines = text.strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _store_errors() -> tuple[type[BaseException], ...]:
    # obstore raises its BaseError subclasses, and builtin OSError subclasses
    # (FileNotFoundError for a missing bucket or key).
    from obstore.exceptions import BaseError

    return (BaseError, OSError)


class ObjectStoreWriter:
    """Writes objects and per-job manifests under one DEST prefix.

    ``async with ObjectStoreWriter(parse_dest(dest), StoreSettings.from_env()) as w:``
    then ``await w.upload(key, chunks)``. ``store`` lets a caller pass an obstore
    store it built itself (the writer does not own anything that needs closing).
    """

    __slots__ = ("_max_concurrency", "_part_size", "_store", "url")

    def __init__(
        self,
        url: StoreURL,
        settings: StoreSettings | None = None,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        store: ObjectStore | None = None,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.url = url
        self._part_size = part_size
        self._max_concurrency = max_concurrency
        self._store = store if store is not None else open_store(url, settings or StoreSettings())

    @property
    def part_size(self) -> int:
        return self._part_size

    @property
    def multipart_share(self) -> int:
        """The most memory one multipart upload holds: its parts in flight and one filling."""
        return self._part_size * (self._max_concurrency + 1)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def upload(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        """Stream ``chunks`` to ``key``; the object is visible only once complete.

        An exception from ``chunks`` (or a cancellation) aborts the upload and
        propagates unchanged; a failure of the store raises ``ObjectStoreError``.
        """
        import obstore

        check_key(key)
        digest, size = hashlib.sha256(), 0
        # obstore's buffered writer, fed chunk by chunk, rather than put_async
        # with an async iterator: that path leaves Python objects to its Rust
        # threads, and a process that exits right after an upload could then
        # abort at interpreter shutdown (seen as exit status -6).
        writer = obstore.open_writer_async(
            self._store,
            key,
            buffer_size=self._part_size,
            max_concurrency=self._max_concurrency,
        )
        try:
            async for chunk in chunks:
                if chunk:
                    digest.update(chunk)
                    size += len(chunk)
                    await self._store_call(writer.write(chunk), key)
        except BaseException as exc:
            # Leaving the writer with an exception aborts the multipart upload:
            # nothing appears under ``key``. Shielded, so a cancellation does
            # not skip it; bounded, so a dead store cannot hold us.
            with anyio.move_on_after(_ABORT_TIMEOUT, shield=True):
                with contextlib.suppress(Exception):
                    await writer.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        await self._store_call(writer.close(), key)
        return StoredObject(key=key, size=size, sha256=digest.hexdigest())

    async def _store_call(self, call: Awaitable[T], key: str) -> T:
        try:
            return await call
        except _store_errors() as exc:
            raise ObjectStoreError(
                f"upload failed: {_one_line(exc)}", url=self._where(key)
            ) from exc

    async def listing(self, prefix: str = "") -> dict[str, int]:
        """Every complete object under ``prefix`` (relative to DEST): key → size."""
        import obstore

        found: dict[str, int] = {}
        try:
            stream = obstore.list(self._store, prefix or None, chunk_size=1000)
            async for batch in stream:
                for meta in batch:
                    found[meta["path"]] = meta["size"]
        except _store_errors() as exc:
            raise ObjectStoreError(
                f"listing failed: {_one_line(exc)}", url=self._where(prefix)
            ) from exc
        return found

    async def write_manifest(
        self,
        project_slug: str,
        job_number: int,
        objects: Iterable[StoredObject],
        *,
        whole: bool = True,
    ) -> str:
        """Record one job's complete objects (one atomic PUT); returns the manifest's key."""
        import obstore

        key = manifest_key(project_slug, job_number)
        manifest = JobManifest(
            project_slug=project_slug,
            job_number=job_number,
            objects=tuple(sorted(objects, key=lambda o: o.key)),
            whole=whole,
        )
        try:
            await obstore.put_async(
                self._store,
                key,
                _encode(manifest),
                attributes={"Content-Type": "application/json"},
                use_multipart=False,
            )
        except _store_errors() as exc:
            raise ObjectStoreError(
                f"manifest write failed: {_one_line(exc)}", url=self._where(key)
            ) from exc
        return key

    async def manifests(self, *, concurrency: int = 16) -> list[JobManifest]:
        """Every job manifest under the DEST prefix (unreadable ones are skipped),
        read ``concurrency`` at a time, in key order."""
        import obstore
        from obstore.exceptions import NotFoundError

        keys = [k for k in sorted(await self.listing(MANIFEST_PREFIX)) if k.endswith(".json")]
        found: list[JobManifest | None] = [None] * len(keys)
        slots = anyio.CapacityLimiter(max(1, concurrency))

        async def read(index: int, key: str) -> None:
            async with slots:
                try:
                    result = await obstore.get_async(self._store, key)
                    body = await result.bytes_async()
                except (NotFoundError, FileNotFoundError):
                    return  # deleted between the listing and the GET
                except _store_errors() as exc:
                    raise ObjectStoreError(
                        f"manifest read failed: {_one_line(exc)}", url=self._where(key)
                    ) from exc
            try:
                found[index] = _decode_manifest(bytes(body))
            except msgspec.DecodeError:
                pass  # not ours, or written by an incompatible version: redo the job

        try:
            async with anyio.create_task_group() as tg:
                for index, key in enumerate(keys):
                    tg.start_soon(read, index, key)
        except BaseExceptionGroup as group:
            # One typed error for the caller, as the sequential reads raised.
            failed = [e for e in group.exceptions if isinstance(e, ObjectStoreError)]
            if failed:
                raise failed[0] from None
            raise
        return [m for m in found if m is not None]

    async def sha256_of(self, key: str) -> tuple[int, str]:
        """Size and sha256 of the object ``key``, read back in chunks (to verify a copy)."""
        import obstore

        digest, size = hashlib.sha256(), 0
        try:
            result = await obstore.get_async(self._store, check_key(key))
            # Chunks of up to 10 MiB (obstore's default for iterating a result).
            async for chunk in result:
                data = bytes(chunk)
                digest.update(data)
                size += len(data)
        except _store_errors() as exc:
            raise ObjectStoreError(f"read failed: {_one_line(exc)}", url=self._where(key)) from exc
        return size, digest.hexdigest()

    async def complete_jobs(self) -> dict[tuple[str, int], JobManifest]:
        """Jobs whose manifest exists and whose objects are all listed with their sizes.

        A re-run skips these and mirrors every other job again.
        """
        present = await self.listing()
        done: dict[tuple[str, int], JobManifest] = {}
        for manifest in await self.manifests():
            if all(present.get(o.key) == o.size for o in manifest.objects):
                done[manifest.project_slug, manifest.job_number] = manifest
        return done

    def _where(self, key: str) -> str:
        return f"{self.url.url.rstrip('/')}/{key}" if key else self.url.url

    def __repr__(self) -> str:
        return f"<ObjectStoreWriter {self.url} part={self._part_size} x{self._max_concurrency}>"
