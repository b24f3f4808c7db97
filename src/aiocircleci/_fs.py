"""Filesystem operations under DEST that no planted symlink can redirect.

Every call takes the DEST directory's file descriptor and a safe relative path
(see ``_paths.safe_relpath``) and walks it one component at a time with
``O_NOFOLLOW | O_DIRECTORY`` (openat-style: ``os.open(..., dir_fd=...)``). A
symlink anywhere on the way, or a non-directory where a directory must be,
raises ``UnsafePath`` naming the component; nothing is ever followed out of
DEST. The last component is never followed either: ``lstat`` says what stands
at a final name, and ``open_file`` refuses a symlink there.

::

    with DestDir.open("mirror") as root:
        kind = root.kind("gh/org/repo/1/build.log")   # Kind.MISSING, FILE, DIRECTORY...
        fd = root.open_file("gh/org/repo/1/build.log.part", os.O_WRONLY | os.O_CREAT)

Directory descriptors are kept open between calls (``acquire_dir``): the files
of one job land in a few directories, and walking to one costs an ``openat`` and
a ``close`` per component. At most ``max_dirs`` unused ones stay open (least
recently used go first); one in use is never closed under its user. A cached
descriptor is the directory the walk found, inside DEST and not through a
symlink: a symlink planted at its name later does not redirect it, as it would
not redirect a descriptor held by one file's walk. (A directory moved out of
DEST while a run writes into it is not guarded against, by either.)

Blocking calls: run them on a thread from async code.
"""

from __future__ import annotations

import contextlib
import enum
import errno
import hashlib
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import PurePosixPath
from types import TracebackType
from typing import Final, Self

from .errors import DiskError, UnsafePath

__all__ = ["DestDir", "Kind", "describe_kind"]

_NOFOLLOW: Final = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY: Final = getattr(os, "O_DIRECTORY", 0)
_CLOEXEC: Final = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS: Final = os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC
# Unused directory descriptors kept open (see acquire_dir).
DEFAULT_MAX_DIRS: Final = 32


class Kind(enum.Enum):
    """What stands at a path (never following a symlink)."""

    MISSING = "missing"
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    OTHER = "special file"


def describe_kind(kind: Kind) -> str:
    """``a directory``, ``a symlink``... for a failure's reason."""
    return "a " + kind.value


def _kind_of(mode: int) -> Kind:
    if stat.S_ISREG(mode):
        return Kind.FILE
    if stat.S_ISDIR(mode):
        return Kind.DIRECTORY
    if stat.S_ISLNK(mode):
        return Kind.SYMLINK
    return Kind.OTHER


def _parts(rel: str | PurePosixPath) -> tuple[str, ...]:
    parts = PurePosixPath(rel).parts
    if not parts or PurePosixPath(rel).is_absolute() or any(p in (".", "..") for p in parts):
        raise UnsafePath("not a safe relative path", path=str(rel))
    return parts


class DestDir:
    """An open DEST directory; every path given to it is relative to DEST.

    Safe to share between threads. ``max_dirs``: directory descriptors kept open
    while unused (``acquire_dir``).
    """

    __slots__ = ("_dirs", "_fd", "_lock", "_max_dirs", "_stale", "path")

    def __init__(self, fd: int, path: str, *, max_dirs: int = DEFAULT_MAX_DIRS) -> None:
        self._fd = fd
        self.path = path
        self._max_dirs = max_dirs
        # Directory (relative to DEST) -> [descriptor, users, made by this walk (0/1)],
        # least recently used first.
        self._dirs: dict[str, list[int]] = {}
        # Forgotten entries still in use: closed when their last user lets go.
        self._stale: list[list[int]] = []
        self._lock = threading.Lock()

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = False,
        max_dirs: int = DEFAULT_MAX_DIRS,
    ) -> DestDir:
        """Open DEST itself (which may be reached through symlinks: the user chose it)."""
        text = os.fspath(path)
        try:
            if create:
                os.makedirs(text, exist_ok=True)
            fd = os.open(text, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise DiskError(f"cannot open the destination {text}: {reason}", path=text) from exc
        return cls(fd, text, max_dirs=max_dirs)

    @property
    def fd(self) -> int:
        return self._fd

    def close(self) -> None:
        """Close DEST and every directory descriptor kept open."""
        with self._lock:
            entries = [*self._dirs.values(), *self._stale]
            self._dirs, self._stale = {}, []
        for fd, _, _ in entries:
            os.close(fd)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<DestDir {self.path!r} fd={self._fd}>"

    # -- directories

    @contextlib.contextmanager
    def parent_fd(self, rel: str | PurePosixPath, *, create: bool = False) -> Iterator[int]:
        """A descriptor of ``rel``'s parent directory, reached without following symlinks.

        With ``create`` missing directories are made on the way (``mkdir -p``
        without ever following a symlink). Raises ``UnsafePath`` when a symlink
        or a non-directory stands where a directory must be, and ``FileNotFoundError``
        when a directory is missing and ``create`` is false.
        """
        parts = _parts(rel)
        parent = "/".join(parts[:-1])
        fd = self.acquire_dir(parent, create=create)
        try:
            yield fd
        finally:
            self.release_dir(parent, fd)

    def acquire_dir(self, rel_dir: str, *, create: bool = False) -> int:
        """A descriptor of the directory ``rel_dir`` (``""``: DEST); ``release_dir`` it after.

        ``rel_dir`` is a safe relative path without empty components (``a/b``).
        The descriptor comes from the cache when the directory was reached
        before; otherwise it is walked to as ``parent_fd`` says and kept.
        """
        if not rel_dir:
            return self._fd
        with self._lock:
            entry = self._dirs.pop(rel_dir, None)
            if entry is not None:
                entry[1] += 1
                self._dirs[rel_dir] = entry  # now the most recently used
                return entry[0]
        parts = _parts(rel_dir)
        fd = os.dup(self._fd)
        made = False
        try:
            for index, name in enumerate(parts):
                fd, made = self._step(fd, name, parts, index, create=create)
        except BaseException:
            os.close(fd)
            raise
        with self._lock:
            entry = self._dirs.get(rel_dir)
            if entry is not None:  # another thread walked there meanwhile: share its one
                entry[1] += 1
                os.close(fd)
                return entry[0]
            self._dirs[rel_dir] = [fd, 1, made]
            self._trim()
        return fd

    def made(self, rel_dir: str) -> bool:
        """Whether this ``DestDir`` created ``rel_dir`` (held through ``acquire_dir``).

        Such a directory holds nothing that predates the run: no earlier final
        name, ``.part`` or ``.part.meta`` to look for. Forgotten once its
        descriptor is closed (a later walk finds it existing).
        """
        with self._lock:
            entry = self._dirs.get(rel_dir)
            return entry is not None and bool(entry[2])

    def forget_made(self) -> None:
        """Count every directory held so far as found, not made: another writer
        (a worker process of this run that died) may have left files in them."""
        with self._lock:
            for entry in self._dirs.values():
                entry[2] = 0

    def release_dir(self, rel_dir: str, fd: int | None = None) -> None:
        """One user less of ``acquire_dir(rel_dir)``'s descriptor ``fd``."""
        if not rel_dir:
            return
        with self._lock:
            entry = self._dirs.get(rel_dir)
            if entry is None or (fd is not None and entry[0] != fd):
                # Forgotten (forget_dir) while in use: closed with its last user.
                entry = next((e for e in self._stale if e[0] == fd), None)
                if entry is None:
                    return
                entry[1] -= 1
                if entry[1] == 0:
                    self._stale.remove(entry)
                    os.close(entry[0])
                return
            entry[1] -= 1
            if len(self._dirs) > self._max_dirs:
                self._trim()

    def forget_dir(self, rel_dir: str) -> None:
        """``rel_dir``'s kept descriptor leads nowhere (the directory was removed):
        the next ``acquire_dir`` walks to it again (and makes it, with ``create``)."""
        with self._lock:
            entry = self._dirs.pop(rel_dir, None)
            if entry is None:
                return
            if entry[1] > 0:
                self._stale.append(entry)
            else:
                os.close(entry[0])

    def _trim(self) -> None:
        """Close unused descriptors, least recently used first, down to ``max_dirs``."""
        dirs = self._dirs
        excess = len(dirs) - self._max_dirs
        if excess <= 0:
            return
        for key in [k for k, (_, users, _) in dirs.items() if users == 0][:excess]:
            os.close(dirs.pop(key)[0])

    def _step(
        self, fd: int, name: str, parts: tuple[str, ...], index: int, *, create: bool
    ) -> tuple[int, bool]:
        """The child directory's descriptor (``fd`` is closed), and whether we made it."""
        where = "/".join(parts[: index + 1])
        made = False
        while True:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(name, 0o777, dir_fd=fd)
                    made = True
                except FileExistsError:
                    made = False
                continue  # open what is there now (a racing mkdir is fine, a symlink is not)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    kind = self._kind_at(fd, name)
                    raise UnsafePath(
                        f"{describe_kind(kind)} stands where the directory {where} must be",
                        path="/".join(parts),
                    ) from exc
                raise
            os.close(fd)
            return child, made

    @staticmethod
    def _kind_at(fd: int, name: str) -> Kind:
        try:
            return _kind_of(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
        except FileNotFoundError:
            return Kind.MISSING

    def makedirs(self, rel: str | PurePosixPath) -> None:
        """Create the directory ``rel`` and its parents, following no symlink."""
        with self.parent_fd(f"{rel}/_", create=True):
            pass

    # -- files

    def lstat(self, rel: str | PurePosixPath) -> os.stat_result | None:
        """``rel``'s own stat (a symlink is not followed), or ``None`` when nothing is there.

        A symlink or a file on the way to ``rel`` raises ``UnsafePath``.
        """
        parts = _parts(rel)
        try:
            with self.parent_fd(rel) as parent:
                return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def kind(self, rel: str | PurePosixPath) -> Kind:
        """What stands at ``rel``, never following a symlink."""
        found = self.lstat(rel)
        return Kind.MISSING if found is None else _kind_of(found.st_mode)

    def open_file(self, rel: str | PurePosixPath, flags: int, mode: int = 0o666) -> int:
        """``os.open`` of ``rel`` with ``O_NOFOLLOW`` (creating parents when ``O_CREAT``).

        A symlink at ``rel`` raises ``UnsafePath``; so does a directory when
        writing. The caller closes the returned descriptor.
        """
        parts = _parts(rel)
        with self.parent_fd(rel, create=bool(flags & os.O_CREAT)) as parent:
            try:
                return os.open(parts[-1], flags | _NOFOLLOW | _CLOEXEC, mode, dir_fd=parent)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
                    kind = self._kind_at(parent, parts[-1])
                    raise UnsafePath(
                        f"{describe_kind(kind)} stands at the file's name", path=str(rel)
                    ) from exc
                raise

    def sha256(self, rel: str | PurePosixPath) -> tuple[int, str]:
        """Size and sha256 of the regular file ``rel`` (``UnsafePath`` for anything else)."""
        # O_NONBLOCK: a FIFO planted at the name must not hang the run.
        fd = self.open_file(rel, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise UnsafePath("a special file stands at the file's name", path=str(rel))
            digest = hashlib.sha256()
            size = 0
            while block := os.read(fd, 1 << 20):
                digest.update(block)
                size += len(block)
            return size, digest.hexdigest()
        finally:
            os.close(fd)

    def unlink(self, rel: str | PurePosixPath) -> None:
        """Remove the file (or symlink) ``rel`` itself; nothing there is fine."""
        parts = _parts(rel)
        try:
            with self.parent_fd(rel) as parent:
                os.unlink(parts[-1], dir_fd=parent)
        except FileNotFoundError:
            pass

    def rename(self, src: str | PurePosixPath, dst: str | PurePosixPath) -> None:
        """``os.replace`` of ``src`` onto ``dst``, both relative to DEST, no symlink followed."""
        src_parts, dst_parts = _parts(src), _parts(dst)
        with self.parent_fd(src) as src_dir, self.parent_fd(dst, create=True) as dst_dir:
            os.replace(src_parts[-1], dst_parts[-1], src_dir_fd=src_dir, dst_dir_fd=dst_dir)
