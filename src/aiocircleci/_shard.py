"""Splitting one selection across N machines: ``--shard K/N``.

Every machine runs the same command with its own ``K`` (0-based, as
Kubernetes Indexed Jobs number their pods in ``JOB_COMPLETION_INDEX``) and
the same ``N``. Each decides alone, from names only, which work is its own:

- by project: a project belongs to shard ``h(slug) mod N``;
- by pipeline: a pipeline belongs to shard ``h(slug, pipeline id) mod N``, so
  that one big project (or fewer projects than machines) still spreads out.

``h`` is the first 8 bytes of a SHA-256, never Python's ``hash()``, which is
salted per process. The owner of an item depends on nothing but the item and
``N``, so the shards never overlap and never leave a gap, even when machines
see a project list that changed between their runs. Pure: no I/O, no clock;
the caller passes ``JOB_COMPLETION_INDEX`` in.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ._config import JOB_INDEX_ENV
from .errors import ConfigurationError

__all__ = ["JOB_INDEX_ENV", "Shard", "ShardBy", "parse_shard", "shard_of"]

"""Where Kubernetes Indexed Jobs put a pod's 0-based index."""

T = TypeVar("T")
_WHOLE = re.compile(r"[0-9]{1,9}")


class ShardBy(enum.StrEnum):
    """How finely the work is split."""

    PROJECT = "project"
    PIPELINE = "pipeline"


def _stable_hash(*parts: str) -> int:
    # NUL cannot occur in a slug or an id, so ("a/b", "c") and ("a", "b/c") differ.
    digest = hashlib.sha256("\0".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def shard_of(count: int, project: str, pipeline: str | None = None) -> int:
    """The shard (0..count-1) that owns ``project``, or its ``pipeline`` when given."""
    if count < 1:
        raise ValueError(f"shard count must be at least 1, not {count!r}")
    if pipeline is None:
        return _stable_hash(project) % count
    return _stable_hash(project, pipeline) % count


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based); ``Shard(0, 1)`` owns everything."""

    index: int
    count: int
    by: ShardBy = ShardBy.PIPELINE

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError(f"shard count must be at least 1, not {self.count!r}")
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard index must be in 0..{self.count - 1}, not {self.index!r}")

    def owns_project(self, project: str) -> bool:
        """Whether any of ``project`` may be this shard's (always, when split by pipeline)."""
        if self.count == 1 or self.by is ShardBy.PIPELINE:
            return True
        return shard_of(self.count, project) == self.index

    def owns(self, project: str, pipeline: str) -> bool:
        """Whether pipeline ``pipeline`` (its id) of ``project`` is this shard's work."""
        if self.count == 1:
            return True
        if self.by is ShardBy.PROJECT:
            return shard_of(self.count, project) == self.index
        return shard_of(self.count, project, pipeline) == self.index

    def select(self, items: Iterable[T], key: Callable[[T], tuple[str, str]]) -> Iterator[T]:
        """The items this shard owns; ``key`` gives an item's (project slug, pipeline id)."""
        for item in items:
            if self.owns(*key(item)):
                yield item

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(
    text: str, *, job_index: str | None = None, by: ShardBy = ShardBy.PIPELINE
) -> Shard:
    """``"K/N"`` → ``Shard(K, N)``; ``"N"`` or ``"/N"`` takes K from ``job_index``.

    ``job_index`` is the value of ``JOB_COMPLETION_INDEX`` (the caller reads the
    environment). Anything malformed raises ``ConfigurationError`` with one line
    that says what was expected.
    """
    raw = text.strip()
    index_text, sep, count_text = raw.rpartition("/")
    if not sep:
        index_text, count_text = "", raw
    if not _WHOLE.fullmatch(count_text) or int(count_text) < 1:
        raise ConfigurationError(
            f"--shard {text!r}: expected K/N with N a whole number of shards at least 1"
        )
    count = int(count_text)
    if not index_text:
        if job_index is None or not job_index.strip():
            raise ConfigurationError(
                f"--shard {text!r}: no K given and {JOB_INDEX_ENV} is not set; use K/N"
            )
        index_text, origin = job_index.strip(), JOB_INDEX_ENV
    else:
        origin = "--shard"
    if not _WHOLE.fullmatch(index_text):
        raise ConfigurationError(f"{origin} {index_text!r}: K must be a whole number")
    index = int(index_text)
    if index >= count:
        raise ConfigurationError(
            f"{origin} {index_text!r}: K must be in 0..{count - 1} for {count} shards (0-based)"
        )
    return Shard(index, count, by)
