"""The downloader's collision claims, kept on disk: memory stays flat however many paths.

``PathClaims`` must remember every path of the run to rename a second artifact
that lands on a claimed name (``report.xml`` → ``report~2.xml``), so a run of a
million URLs would hold a million strings. ``DiskClaims`` keeps the same claims
in a private temporary SQLite database (``sqlite3.connect("")``: a file that
SQLite creates outside DEST and deletes on close), behind a bounded page cache.
A lookup is an indexed ``SELECT`` of a few microseconds, next to milliseconds
per file.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from .._paths import PathClaims

__all__ = ["DiskClaims"]

# Pages SQLite may keep in memory (negative: KiB), whatever the number of claims.
_CACHE_KIB: Final = 2048
# A Bloom filter of 2**21 bits per table (256 KiB), two probes: ~3% false positives
# at 200,000 keys, ~40% at 1,000,000 (a query then answers).
_BLOOM_BYTES: Final = 1 << 18
_MASK: Final = _BLOOM_BYTES * 8 - 1
# Recently used keys answered without a query (directories repeat from file to file).
_RECENT: Final = 1024
# New keys are inserted this many at a time (one executemany): a statement per
# claim cost more than the rest of the claim.
_BATCH: Final = 256


class _Keys:
    """A set of strings in one table of ``db`` (``in``, ``add``, ``len``).

    Most lookups of a claim are of new names (absent) or of the directories just
    used (present): a fixed-size Bloom filter answers the first kind and a small
    cache of recent keys the second, without a query. New keys wait in a batch of
    at most ``_BATCH`` before they are inserted. All three have a fixed size.
    """

    __slots__ = ("_add", "_bits", "_db", "_has", "_pending", "_recent", "_table")

    def __init__(self, db: sqlite3.Connection, table: str) -> None:
        self._db = db
        self._table = table
        db.execute(f"CREATE TABLE {table} (key TEXT PRIMARY KEY) WITHOUT ROWID")
        self._has = f"SELECT 1 FROM {table} WHERE key = ?"
        self._add = f"INSERT OR IGNORE INTO {table} (key) VALUES (?)"
        self._bits = bytearray(_BLOOM_BYTES)
        self._recent: dict[str, None] = {}
        self._pending: set[str] = set()

    def __contains__(self, key: object, /) -> bool:
        if key in self._recent:
            return True
        h = hash(key)
        a, b = h & _MASK, (h >> 24) & _MASK
        bits = self._bits
        if not (bits[a >> 3] >> (a & 7) & 1 and bits[b >> 3] >> (b & 7) & 1):
            return False  # never added
        found = key in self._pending or self._db.execute(self._has, (key,)).fetchone() is not None
        if found:
            self._remember(key)  # type: ignore[arg-type]
        return found

    def __len__(self) -> int:
        self._flush()
        (count,) = self._db.execute(f"SELECT count(*) FROM {self._table}").fetchone()
        return int(count)

    def _flush(self) -> None:
        if self._pending:
            self._db.executemany(self._add, [(key,) for key in self._pending])
            self._pending.clear()

    def add(self, key: str, /) -> None:
        pending = self._pending
        pending.add(key)
        if len(pending) >= _BATCH:
            self._flush()
        h = hash(key)
        a, b = h & _MASK, (h >> 24) & _MASK
        bits = self._bits
        bits[a >> 3] |= 1 << (a & 7)
        bits[b >> 3] |= 1 << (b & 7)
        self._remember(key)

    def _remember(self, key: str) -> None:
        recent = self._recent
        if len(recent) >= _RECENT:
            del recent[next(iter(recent))]  # the oldest
        recent[key] = None


class DiskClaims(PathClaims):
    """``PathClaims`` whose records live in a temporary SQLite file; ``close()`` deletes it."""

    __slots__ = ("_db",)

    def __init__(self, *, fold_case: bool = False) -> None:
        # "" is a private temporary database on disk, gone when the connection closes.
        db = sqlite3.connect("", isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        self._db = db
        super().__init__(fold_case=fold_case, files=_Keys(db, "files"), dirs=_Keys(db, "dirs"))
        # One transaction for the whole run, never committed: nothing here must outlive
        # the run, and a statement per claim then costs no journal or file sync.
        db.execute("BEGIN")

    def close(self) -> None:
        self._db.close()
