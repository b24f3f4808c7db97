"""--shard K/N: parsing, and a split with no overlap and no gap."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiocircleci._shard import JOB_INDEX_ENV, Shard, ShardBy, parse_shard, shard_of
from aiocircleci.errors import ConfigurationError

_names = st.text("abz09-._", min_size=1, max_size=8)
slugs = st.builds("{}/{}/{}".format, st.sampled_from(["gh", "bb", "circleci"]), _names, _names)
pipelines = st.uuids().map(str)
work = st.lists(st.tuples(slugs, pipelines), max_size=60, unique=True)


@given(items=work, count=st.integers(1, 12), by=st.sampled_from(ShardBy))
def test_shards_cover_everything_once(
    items: list[tuple[str, str]], count: int, by: ShardBy
) -> None:
    shards = [Shard(k, count, by) for k in range(count)]
    taken = [list(s.select(items, key=lambda item: item)) for s in shards]
    union = [item for part in taken for item in part]
    # No gap and no overlap: every item is taken exactly once.
    assert sorted(union) == sorted(items)
    for item in items:
        assert sum(s.owns(*item) for s in shards) == 1


@given(items=work, count=st.integers(2, 12))
def test_split_by_project_keeps_a_project_on_one_machine(
    items: list[tuple[str, str]], count: int
) -> None:
    shards = [Shard(k, count, ShardBy.PROJECT) for k in range(count)]
    for project, pipeline in items:
        owners = [s.index for s in shards if s.owns(project, pipeline)]
        project_owners = [s.index for s in shards if s.owns_project(project)]
        assert owners == project_owners == [shard_of(count, project)]


def test_one_project_spreads_evenly_over_machines_by_pipeline() -> None:
    ids = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(4000)]
    counts = [sum(Shard(k, 4).owns("gh/acme/monorepo", p) for p in ids) for k in range(4)]
    assert sum(counts) == 4000
    assert all(900 <= c <= 1100 for c in counts), counts


def test_the_assignment_is_the_same_in_every_process() -> None:
    # Python's hash() is salted per process; machines must agree regardless.
    code = (
        "from aiocircleci._shard import shard_of;"
        "print([shard_of(5, f'gh/acme/repo{i}', f'p{i}') for i in range(64)])"
    )
    here = str([shard_of(5, f"gh/acme/repo{i}", f"p{i}") for i in range(64)])
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == here


@pytest.mark.parametrize(
    ("text", "job_index", "expected"),
    [
        ("0/1", None, Shard(0, 1)),
        ("2/3", None, Shard(2, 3)),
        (" 1/4 ", "3", Shard(1, 4)),  # an explicit K wins over the environment
        ("4", "3", Shard(3, 4)),
        ("/4", "0", Shard(0, 4)),
    ],
)
def test_shard_spec_parses(text: str, job_index: str | None, expected: Shard) -> None:
    assert parse_shard(text, job_index=job_index) == expected


@pytest.mark.parametrize(
    ("text", "job_index", "message"),
    [
        ("3/3", None, "K must be in 0..2"),
        ("1/0", None, "expected K/N"),
        ("a/2", None, "K must be a whole number"),
        ("-1/2", None, "K must be a whole number"),
        ("1/2/3", None, "K must be a whole number"),
        ("", None, "expected K/N"),
        ("4", None, f"{JOB_INDEX_ENV} is not set"),
        ("4", "4", "K must be in 0..3"),
        ("4", "x", "K must be a whole number"),
        ("1/²", None, "expected K/N"),
    ],
)
def test_bad_shard_spec_is_one_clear_line(text: str, job_index: str | None, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        parse_shard(text, job_index=job_index)
    assert "\n" not in str(info.value)


def test_kubernetes_example_runs_one_shard_per_completion_index() -> None:
    manifest = (Path(__file__).parent.parent / "examples" / "k8s-indexed-job.yaml").read_text()
    assert re.search(r"^\s*completionMode: Indexed\s*$", manifest, re.MULTILINE)
    completions = re.search(r"^\s*completions: (\d+)\s*$", manifest, re.MULTILINE)
    shard = re.search(r"--shard[= ]\"?\$\(JOB_COMPLETION_INDEX\)/(\d+)", manifest)
    assert completions is not None
    assert shard is not None
    # As many shards as pods, each pod taking its own index as K.
    assert shard.group(1) == completions.group(1)
    assert parse_shard(f"{shard.group(1)}", job_index="0") == Shard(0, int(shard.group(1)))
