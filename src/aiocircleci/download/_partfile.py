"""One file's ``NAME.part``: its bytes, its ``.part.meta``, its digest, offset and publishing.

Every operation goes through DEST's directory descriptors (``_fs.DestDir``): the
parent directory is reached (and created) without following a symlink, and the
``.part``, the ``.part.meta`` and the final name are opened, renamed and removed
relative to it with ``O_NOFOLLOW``. A symlink, a directory or any non-regular
file at one of these names is that file's failure (``UnsafePath``); nothing
planted under DEST can redirect a write or count as complete.

Ownership: a ``.part`` is held with ``flock`` for as long as a download writes
it, and its ``.part.meta`` names the run (``run`` id). Another run that finds
the ``.part`` locked fails that file (``PartInUse``) and never touches it; a
``.part`` whose owner died (the kernel dropped its lock) is adopted and resumed.
This holds with or without the DEST lock: the CLI and the mirror take the DEST
lock and pass its run id; a library ``Downloader`` without it gets a fresh id.

``.part.meta`` is a small JSON document (``{"run", "validator", "total"}``); a
segmented download adds ``segments`` (a ``SegmentRecord``: which ranges are on
disk), writes them with ``write_at`` into a ``.part`` pre-sized by ``presize``.
Blocking calls: the per-file loop runs the slow ones on its thread pool.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import stat
from collections.abc import Callable
from typing import Any, Final

import msgspec

from .._fs import DestDir, Kind, describe_kind
from .._fs import _kind_of as _kind
from .._segments import SegmentRecord
from ..errors import DownloadError, UnsafePath

__all__ = ["Opener", "PartFile", "PartInUse", "nofollow_opener"]

PART: Final = ".part"
META: Final = ".part.meta"
_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
# A FIFO planted at a name must not hang the run.
_NONBLOCK: Final = getattr(os, "O_NONBLOCK", 0)
_IOV_MAX: Final = os.sysconf("SC_IOV_MAX") if hasattr(os, "sysconf") else 1024
# A .part.meta is a few hundred bytes; a bigger one is not ours.
_META_MAX: Final = 64 * 1024

# os.open's signature with a directory descriptor: (name, flags, dir_fd) -> fd.
Opener = Callable[[str, int, int], int]


class PartInUse(DownloadError):
    """Another live run is writing this file's ``.part``."""


def nofollow_opener(path: str, flags: int, dir_fd: int | None = None) -> int:
    """Open like ``os.open``, refusing to follow a symlink at ``path``."""
    return os.open(path, flags | _NOFOLLOW | _CLOEXEC, 0o666, dir_fd=dir_fd)


class PartFile:
    """``rel``'s ``.part`` under ``root``: open it, write it, publish it.

    Use as a context manager (it holds the parent directory's descriptor and,
    once opened, the locked ``.part``)::

        with PartFile(root, "a/b.txt", run_id=run) as part:
            part.open(0, validator, total)
            part.write_chunks([b"..."])
            part.publish()
    """

    __slots__ = (
        "_dir",
        "_fresh",
        "_locked_size",
        "_meta",
        "_name",
        "_parent",
        "digest",
        "fd",
        "offset",
        "opener",
        "rel",
        "root",
        "run_id",
        "segments",
        "validator",
    )

    def __init__(
        self, root: DestDir, rel: str, *, run_id: str, opener: Opener = nofollow_opener
    ) -> None:
        self.root = root
        self.rel = rel
        self.run_id = run_id
        self.opener = opener
        self._parent, _, self._name = rel.rpartition("/")
        self._dir = -1
        # The parent directory was made by this run: nothing in it predates the run.
        self._fresh = False
        # The .part's size when _open_locked got its lock (-1: not known): a fresh
        # descriptor at offset 0 needs no fstat, ftruncate or lseek to start at 0.
        self._locked_size = -1
        # Whether a .part.meta may exist (False once has_meta saw none and none was written).
        self._meta = True
        self.fd = -1
        self.offset = 0
        self.digest: Any = hashlib.sha256()
        self.validator: str | None = None
        # Which segments of a segmented download are on disk (kept in the meta).
        self.segments: SegmentRecord | None = None

    def __repr__(self) -> str:
        return f"<PartFile {self.rel!r} offset={self.offset} run={self.run_id}>"

    def __enter__(self) -> PartFile:
        if self._name in ("", ".", "..") or self.rel.startswith("/"):
            raise UnsafePath("not a safe relative path", path=self.rel)
        # The parent directory, created on the way, never through a symlink (kept
        # open by DEST for the next file there).
        self._dir = self.root.acquire_dir(self._parent, create=True)
        self._fresh = self.root.made(self._parent)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close (and unlock) the ``.part``; let go of the parent directory."""
        self.close_part()
        if self._dir >= 0:
            fd, self._dir = self._dir, -1
            self.root.release_dir(self._parent, fd)

    def close_part(self) -> None:
        self._locked_size = -1
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)

    # -- what is there

    def _lstat(self, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self._dir, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def _refuse(self, kind: Kind, where: str) -> UnsafePath:
        return UnsafePath(f"{describe_kind(kind)} stands at {where}", path=self.rel)

    def existing_size(self) -> int | None:
        """The size of the regular file at the final name, ``None`` when nothing is there.

        Anything else there (a directory, a symlink, a FIFO) is ``UnsafePath``:
        never complete, never replaced.
        """
        if self._fresh:
            return None  # a directory this run made: no earlier file there to skip
        found = self._lstat(self._name)
        if found is None:
            return None
        kind = _kind(found.st_mode)
        if kind is not Kind.FILE:
            raise self._refuse(kind, "the file's name")
        return found.st_size

    def existing_sha256(self) -> str:
        """sha256 of the regular file at the final name (read without following a symlink)."""
        fd = self.opener(self._name, os.O_RDONLY | _NONBLOCK, self._dir)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise self._refuse(Kind.OTHER, "the file's name")
            digest = hashlib.sha256()
            while block := os.read(fd, 1 << 20):
                digest.update(block)
            return digest.hexdigest()
        finally:
            os.close(fd)

    def has_meta(self) -> bool:
        """Whether an earlier run left a ``.part.meta`` (what a resumable ``.part`` has)."""
        self._meta = not self._fresh and self._lstat(self._name + META) is not None
        return self._meta

    def _read_meta(self) -> dict[str, Any]:
        try:
            fd = self.opener(self._name + META, os.O_RDONLY | _NONBLOCK, self._dir)
        except FileNotFoundError:
            return {}
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                return {}  # a planted thing, not a record: rewritten on open
            raise
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {}
            data = os.read(fd, _META_MAX)
        finally:
            os.close(fd)
        try:
            meta = json.loads(data)
        except ValueError:
            return {}
        return meta if isinstance(meta, dict) else {}

    # -- the .part

    def _open_locked(self) -> int:
        """Open the ``.part`` (created if missing) and hold its lock; ``PartInUse`` if held."""
        name = self._name + PART
        walked = False
        while True:
            try:
                fd = self.opener(name, os.O_RDWR | os.O_CREAT, self._dir)
            except FileNotFoundError:
                if walked or not self._parent:
                    raise
                # The parent directory was removed since DEST kept its descriptor:
                # walk to it (and make it) again, once.
                self._rewalk()
                walked = True
                continue
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                    found = self._lstat(name)
                    kind = Kind.OTHER if found is None else _kind(found.st_mode)
                    raise self._refuse(kind, "the file's .part name") from exc
                raise
            try:
                if self.opener is not nofollow_opener:
                    # A caller's opener is trusted to open what it means to (a test's
                    # /dev/full, an unusual file system): only the lock applies.
                    self._lock(fd)
                    return fd
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise self._refuse(_kind(info.st_mode), "the file's .part name")
                if info.st_nlink > 1:
                    # A hard link planted at NAME.part: truncating it would change another file.
                    raise UnsafePath("a file with other links stands at .part", path=self.rel)
                self._lock(fd)
                # Still the .part? A run that just published it renamed it away.
                now = self._lstat(name)
                if now is not None and (now.st_ino, now.st_dev) == (info.st_ino, info.st_dev):
                    # Its size now that it is ours (a dead owner may have written since fstat).
                    self._locked_size = now.st_size
                    return fd
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)

    def _rewalk(self) -> None:
        root, old = self.root, self._dir
        root.forget_dir(self._parent)
        self._dir = root.acquire_dir(self._parent, create=True)
        self._fresh = root.made(self._parent)
        root.release_dir(self._parent, old)

    def _lock(self, fd: int) -> None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = self._read_meta().get("run")
            who = f"run {owner}" if isinstance(owner, str) else "another run"
            raise PartInUse(f"{self.rel}.part is being written by {who}", path=self.rel) from None

    def adopt(self) -> None:
        """Take over the ``.part`` an earlier, dead run left: its bytes, digest and validator.

        Without a validator the bytes cannot be trusted to match (no ``If-Range``),
        so the ``.part`` starts empty. Raises ``PartInUse`` while its owner lives.
        """
        fd = self._open_locked()
        self.fd = fd
        meta = self._read_meta()
        validator = meta.get("validator")
        size = os.fstat(fd).st_size
        if not isinstance(validator, str) or size == 0:
            return
        if "segments" in meta:
            # Pre-sized, with holes: only the segments the record names are trusted,
            # and they are hashed when the download goes on (offset stays 0).
            try:
                record = msgspec.convert(meta["segments"], SegmentRecord)
            except msgspec.ValidationError:
                return
            if record.total != size:
                return  # not the pre-sized file the record was kept for
            self.segments, self.validator = record, validator
            return
        digest = hashlib.sha256()
        position = 0
        while position < size:
            block = os.pread(fd, min(size - position, 1 << 20), position)
            if not block:
                break
            digest.update(block)
            position += len(block)
        self.digest, self.offset, self.validator = digest, position, validator

    def open(self, start: int, total: int | None) -> None:
        """Hold the ``.part`` for writing from byte ``start`` and record this run in its meta."""
        if self.fd < 0:
            self.fd = self._open_locked()
        self._truncate(start)
        self.write_meta(total)

    def _truncate(self, size: int) -> None:
        # Not O_TRUNC at open: the lock is taken after the open, and a live
        # owner's bytes must stay untouched.
        known, self._locked_size = self._locked_size, -1
        if known == 0 and size == 0:
            return  # just opened and locked, empty, at offset 0
        if (known if known >= 0 else os.fstat(self.fd).st_size) != size:
            os.ftruncate(self.fd, size)
        os.lseek(self.fd, size, os.SEEK_SET)

    def presize(self, total: int, keep: bool) -> None:
        """Hold the ``.part`` at ``total`` bytes for positional writes (segments).

        ``keep`` keeps the bytes there (the finished segments of an earlier run);
        otherwise the ``.part`` is emptied first, so no stale byte survives in a hole.
        """
        if self.fd < 0:
            self.fd = self._open_locked()
        self._locked_size = -1
        if not keep:
            os.ftruncate(self.fd, 0)
        if os.fstat(self.fd).st_size != total:
            os.ftruncate(self.fd, total)

    def write_meta(self, total: int | None, **extra: Any) -> None:
        """Replace ``.part.meta``; a link planted there is removed, never followed.

        A segmented download's ``segments`` record goes in as well.
        """
        name = self._name + META
        record = {"run": self.run_id, "validator": self.validator, "total": total, **extra}
        self._meta = True
        if self.segments is not None:
            record["segments"] = msgspec.to_builtins(self.segments)
        self._unlink(name)
        fd = self.opener(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, self._dir)
        try:
            os.write(fd, json.dumps(record).encode())
        finally:
            os.close(fd)

    def write_chunks(self, chunks: list[bytes]) -> None:
        """Hash ``chunks`` and append them, usually in one ``writev``."""
        for chunk in chunks:
            self.digest.update(chunk)  # releases the GIL for large chunks
        pending = [memoryview(chunk) for chunk in chunks]
        while pending:
            written = os.writev(self.fd, pending[:_IOV_MAX])
            # A short write (a signal, a nearly full disk): drop what went out, retry the rest.
            while pending and written >= len(pending[0]):
                written -= len(pending.pop(0))
            if pending and written:
                pending[0] = pending[0][written:]

    def write_at(self, position: int, data: bytes) -> None:
        """Write ``data`` at ``position`` (not hashed: for segments written out of order)."""
        view = memoryview(data)
        while view:
            written = os.pwrite(self.fd, view, position)
            view = view[written:]
            position += written

    def write_whole(self, chunks: list[bytes]) -> None:
        """A body held in memory: write the ``.part`` in one go, then publish it."""
        if self.fd < 0:
            self.fd = self._open_locked()
        self._truncate(0)
        for chunk in chunks:
            view = memoryview(chunk)
            while view:
                view = view[os.write(self.fd, view) :]
        self.publish()

    def publish(self) -> None:
        """Give the ``.part`` its final name (rename, no symlink followed), drop the meta."""
        try:
            os.replace(self._name + PART, self._name, src_dir_fd=self._dir, dst_dir_fd=self._dir)
        except OSError as exc:
            if exc.errno in (errno.EISDIR, errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                found = self._lstat(self._name)
                kind = Kind.OTHER if found is None else _kind(found.st_mode)
                raise self._refuse(kind, "the file's name") from exc
            raise
        if self._meta:
            self._unlink(self._name + META)
        self.close_part()

    def discard(self) -> None:
        """Start over: the ``.part`` and its meta go (removed while still held)."""
        self._unlink(self._name + PART)
        self._unlink(self._name + META)
        self.close_part()
        self.offset = 0
        self.digest = hashlib.sha256()
        self.validator = None
        self.segments = None

    def _unlink(self, name: str) -> None:
        try:
            os.unlink(name, dir_fd=self._dir)
        except FileNotFoundError:
            pass
        except (IsADirectoryError, PermissionError) as exc:
            # A directory planted at NAME.part.meta: this file's failure, not the disk's.
            found = self._lstat(name)
            if found is None or not stat.S_ISDIR(found.st_mode):
                raise
            where = "the file's .part.meta name" if name.endswith(META) else f"{name}"
            raise self._refuse(Kind.DIRECTORY, where) from exc
