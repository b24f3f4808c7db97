"""Deterministic artifact bytes: any size, streamed, never held in memory.

An artifact's content is a function of its ``seed`` and ``size`` alone. Every
64 KiB block is the artifact's own random base block with the block's index
written over its first eight bytes, so content never repeats at a block boundary:
a downloader that resumes at the wrong offset, or writes one block twice, gets a
different SHA-256. Producing a chunk is a ``bytes.join`` (a memcpy), so the
emulator can serve a GiB artifact at memory speed without allocating it.
"""

from __future__ import annotations

import functools
import hashlib
import random
import struct
from collections.abc import Iterator

__all__ = [
    "BLOCK_SIZE",
    "CHUNK_SIZE",
    "content_etag",
    "content_sha256",
    "iter_content",
    "read_content",
]

BLOCK_SIZE = 64 * 1024
CHUNK_SIZE = 256 * 1024
_INDEX = struct.Struct(">Q")


@functools.lru_cache(maxsize=256)
def _block_tail(seed: int) -> bytes:
    # The first eight bytes of every block are its index; only the rest is random.
    return random.Random(f"artifact-content:{seed}").randbytes(BLOCK_SIZE - _INDEX.size)


def _block(seed: int, index: int) -> bytes:
    return _INDEX.pack(index) + _block_tail(seed)


def iter_content(
    seed: int, size: int, start: int = 0, end: int | None = None, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield the bytes ``[start, end)`` of an artifact in chunks of about ``chunk_size``.

    ``end`` defaults to ``size``; both bounds are clamped to ``[0, size]``.
    """
    stop = size if end is None else min(end, size)
    position = max(0, start)
    tail = _block_tail(seed)
    pack = _INDEX.pack
    blocks_per_chunk = max(1, chunk_size // BLOCK_SIZE)
    while position < stop:
        first = position // BLOCK_SIZE
        last = min((stop - 1) // BLOCK_SIZE, first + blocks_per_chunk - 1)
        parts: list[bytes] = []
        for index in range(first, last + 1):
            parts.append(pack(index))
            parts.append(tail)
        data = b"".join(parts)
        offset = position - first * BLOCK_SIZE
        limit = min(stop - first * BLOCK_SIZE, len(data))
        if offset or limit < len(data):
            data = data[offset:limit]
        yield data
        position += len(data)


@functools.lru_cache(maxsize=4096)
def content_sha256(seed: int, size: int) -> str:
    """Hex SHA-256 of the whole artifact (computed once, then cached)."""
    digest = hashlib.sha256()
    for chunk in iter_content(seed, size, chunk_size=4 * 1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def content_etag(seed: int, size: int) -> str:
    """A strong, quoted ETag that is stable for the artifact and cheap to compute."""
    key = hashlib.blake2b(f"{seed}:{size}".encode(), digest_size=16).hexdigest()
    return f'"{key}"'


def read_content(seed: int, size: int, start: int = 0, end: int | None = None) -> bytes:
    """The bytes ``[start, end)`` in one piece; for tests and small artifacts only."""
    return b"".join(iter_content(seed, size, start, end))
