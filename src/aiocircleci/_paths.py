"""Untrusted artifact paths mapped to safe relative paths inside a destination.

Artifact ``path`` values come from the build that produced them, and URL paths
come from whoever wrote the URL list: both are untrusted. ``safe_relpath`` is a
pure function that maps such a string to a relative POSIX path that cannot
climb out of its root, or raises ``UnsafePath``. ``PathClaims`` keeps two
different artifacts from landing on the same file, and ``resolve_inside`` is the
last check before a path touches the disk (it follows symlinks already there).

The rules, in order:

- backslashes are separators; a leading drive (``C:``), UNC prefix or ``/`` is
  dropped, so absolute paths become relative to the destination;
- ``.`` and empty components vanish; ``..`` cancels the component before it and
  raises ``UnsafePath`` when nothing is left to cancel (it would escape);
- NUL anywhere raises ``UnsafePath`` (it truncates names in C APIs); other
  control characters become ``_``;
- names are NFC-normalised; a component longer than 255 UTF-8 bytes is
  shortened, keeping its extension and adding a hash of the full name, so two
  long names stay distinct; a whole path longer than ``MAX_PATH_BYTES`` raises.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath
from typing import Protocol

from .errors import UnsafePath

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_PATH_BYTES",
    "RESERVED_SUFFIXES",
    "KeySet",
    "PathClaims",
    "resolve_inside",
    "safe_relpath",
]

MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 3072
# The downloader writes NAME.part and NAME.part.meta beside NAME: a claim reserves them too.
RESERVED_SUFFIXES = (".part", ".part.meta")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Paths made only of these, with no empty, "." or ".." component, need no rewriting.
_NAME = r"[A-Za-z0-9_+=,@~-][A-Za-z0-9._+=,@~-]*"
_PLAIN = re.compile(rf"{_NAME}(?:/{_NAME})*")
_DRIVE = re.compile(r"^[A-Za-z]:")


def _shorten(name: str) -> str:
    """``name`` cut to fit ``MAX_NAME_BYTES`` (with room for our suffixes), kept unique."""
    budget = MAX_NAME_BYTES - max(len(s) for s in RESERVED_SUFFIXES) - 8  # and a "~N"
    if len(name.encode()) <= budget:
        return name
    tag = "~" + hashlib.sha256(name.encode()).hexdigest()[:12]
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode()) > 16:
        stem, ext = name, ""
    suffix = tag + (f".{ext}" if ext else "")
    room = budget - len(suffix.encode())
    cut = stem.encode()[:room].decode(errors="ignore")
    return cut + suffix


def safe_relpath(path: str) -> PurePosixPath:
    """A safe relative path for an untrusted ``path``, or ``UnsafePath``.

    The result is never absolute, never empty, and has no ``.`` or ``..``
    component, so joining it to a directory stays inside that directory.
    """
    plain = path.lstrip("/")  # leading slashes are dropped whichever way we go
    if len(plain) <= 200 and _PLAIN.fullmatch(plain):
        # The common case (letters, digits, "-", "_" and dots not starting a name),
        # which includes every URL path: "/d/f.bin" is "d/f.bin".
        return PurePosixPath(plain)
    if "\0" in path:
        raise UnsafePath("the path contains a NUL character", path=_printable(path))
    text = unicodedata.normalize("NFC", path.replace("\\", "/"))
    text = _DRIVE.sub("", text)
    parts: list[str] = []
    for raw in text.split("/"):
        if raw in ("", "."):
            continue
        if raw == "..":
            if not parts:
                raise UnsafePath("the path climbs out of the destination", path=_printable(path))
            parts.pop()
            continue
        parts.append(_shorten(_CONTROL.sub("_", raw)))
    if not parts:
        raise UnsafePath("the path names no file", path=_printable(path))
    result = PurePosixPath(*parts)
    if len(str(result).encode()) > MAX_PATH_BYTES:
        raise UnsafePath(
            f"the path is longer than {MAX_PATH_BYTES} bytes", path=_printable(path)[:200]
        )
    return result


def _printable(path: str) -> str:
    return _CONTROL.sub("?", path)


def resolve_inside(dest: str | os.PathLike[str], rel: PurePosixPath) -> Path:
    """``dest / rel`` as an absolute path, after checking it stays inside ``dest``.

    Symlinks that already exist on the way are followed, so a directory
    symlinked elsewhere is caught. Raises ``UnsafePath`` when ``rel`` is not a
    safe relative path or leads outside.
    """
    if rel.is_absolute() or any(p in ("", ".", "..") for p in rel.parts) or not rel.parts:
        raise UnsafePath("not a safe relative path", path=_printable(str(rel)))
    root = Path(dest).resolve()
    target = root.joinpath(*rel.parts)
    # The parent is resolved (it may hold symlinks); the file itself is replaced, not followed.
    parent = target.parent.resolve()
    if parent != root and root not in parent.parents:
        raise UnsafePath("the path leads outside the destination", path=str(rel))
    return parent / target.name


class KeySet(Protocol):
    """What ``PathClaims`` keeps its claims in: a ``set[str]``, or a store on disk."""

    def __contains__(self, key: object, /) -> bool: ...

    def __len__(self) -> int: ...

    def add(self, key: str, /) -> None: ...


def _key(rel: PurePosixPath, fold_case: bool) -> str:
    text = str(rel)
    return text.casefold() if fold_case else text


def _numbered(name: str, n: int) -> str:
    stem, dot, ext = name.rpartition(".")
    if dot and stem:
        return f"{stem}~{n}.{ext}"
    return f"{name}~{n}"


class PathClaims:
    """Hands out distinct file paths, so no two artifacts share one file.

    ``claim(rel)`` returns ``rel`` itself when it is free, else the first of
    ``name~2.ext``, ``name~3.ext`` ... that is. A file also blocks the names the
    downloader writes beside it (``NAME.part``, ``NAME.part.meta``), and a path
    cannot be both a file and a directory: ``a`` and ``a/b`` get ``a`` and
    ``a~2/b``. Claims made in the same order get the same answers, so a re-run
    resumes the same files. ``fold_case`` treats names that differ only in case
    as one (for case-insensitive file systems).
    """

    __slots__ = ("_dirs", "_files", "_fold_case")

    def __init__(
        self,
        *,
        fold_case: bool = False,
        files: KeySet | None = None,
        dirs: KeySet | None = None,
    ) -> None:
        self._fold_case = fold_case
        # Sets by default; a caller with more paths than memory passes its own store.
        self._files: KeySet = set() if files is None else files
        self._dirs: KeySet = set() if dirs is None else dirs

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return f"<PathClaims files={len(self._files)} dirs={len(self._dirs)}>"

    def _file_free(self, rel: PurePosixPath) -> bool:
        keys = [_key(rel, self._fold_case)]
        keys += [_key(rel.with_name(rel.name + s), self._fold_case) for s in RESERVED_SUFFIXES]
        if keys[0] in self._dirs:
            return False
        if any(k in self._files for k in keys):
            return False
        # NAME.part must not shadow a file someone claimed as NAME.part.meta's owner, and
        # a file named X.part must not be the temporary of a claimed X.
        for suffix in RESERVED_SUFFIXES:
            if rel.name.endswith(suffix):
                owner = rel.with_name(rel.name[: -len(suffix)])
                if owner.name and _key(owner, self._fold_case) in self._files:
                    return False
        return True

    def _plain_free(self, text: str) -> bool:
        # Once per file of a run: no generator per check.
        if text.endswith(RESERVED_SUFFIXES):
            return False  # the careful path checks whose temporary it could be
        files = self._files
        if text in files or text in self._dirs:
            return False
        for suffix in RESERVED_SUFFIXES:
            if text + suffix in files:
                return False
        parent, _, _ = text.rpartition("/")
        while parent:
            if parent in files:
                return False
            parent, _, _ = parent.rpartition("/")
        return True

    def _dir_free(self, rel: PurePosixPath) -> bool:
        return _key(rel, self._fold_case) not in self._files

    def claim(self, rel: PurePosixPath) -> PurePosixPath:
        """Reserve a file path for ``rel`` (renamed if taken) and return it."""
        text = str(rel)
        if not self._fold_case and self._plain_free(text):
            # Fast path: nothing claimed collides (the usual case), no renaming needed.
            self._files.add(text)
            parent, _, _ = text.rpartition("/")
            while parent and parent not in self._dirs:
                self._dirs.add(parent)
                parent, _, _ = parent.rpartition("/")
            return rel
        parts = list(rel.parts)
        prefix = PurePosixPath()
        for i, part in enumerate(parts[:-1]):
            candidate = prefix / part
            n = 2
            while not self._dir_free(candidate):
                candidate = prefix / _numbered(part, n)
                n += 1
            parts[i] = candidate.name
            prefix = candidate
        name = parts[-1]
        chosen = prefix / name
        n = 2
        while not self._file_free(chosen):
            chosen = prefix / _numbered(name, n)
            n += 1
        self._files.add(_key(chosen, self._fold_case))
        for up in chosen.parents:
            if str(up) == ".":
                break
            self._dirs.add(_key(up, self._fold_case))
        return chosen
