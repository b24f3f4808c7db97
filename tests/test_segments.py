"""Planning segments, recording the done ones, and hashing a prefix that finishes out of order."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiocircleci._segments import (
    PrefixHasher,
    Segment,
    SegmentConfig,
    SegmentRecord,
    plan_segments,
)


@given(
    total=st.integers(min_value=0, max_value=10**7),
    segment_size=st.integers(min_value=1, max_value=10**6),
)
@settings(max_examples=200, deadline=None)
def test_a_plan_covers_the_file_exactly_once_in_order(total: int, segment_size: int) -> None:
    if total // segment_size > 20_000:
        segment_size = total // 20_000 + 1  # keep each example small
    plan = plan_segments(total, segment_size=segment_size)
    position = 0
    for index, segment in enumerate(plan):
        assert segment.index == index
        assert segment.start == position  # no gap, no overlap
        assert 0 < segment.size <= segment_size
        position = segment.end
    assert position == total
    # Only the last segment may be short.
    assert all(s.size == segment_size for s in plan[:-1])


@given(
    total=st.integers(min_value=1, max_value=10**6),
    segment_size=st.integers(min_value=1, max_value=10**5),
    data=st.data(),
)
@settings(max_examples=200, deadline=None)
def test_done_segments_are_left_out_and_the_rest_keep_their_ranges(
    total: int, segment_size: int, data: st.DataObject
) -> None:
    if total // segment_size > 2_000:
        segment_size = total // 2_000 + 1
    whole = plan_segments(total, segment_size=segment_size)
    done = data.draw(st.sets(st.sampled_from([s.index for s in whole])))
    rest = plan_segments(total, segment_size=segment_size, done=done)
    assert rest == [s for s in whole if s.index not in done]
    covered = sorted(
        [(s.start, s.end) for s in rest] + [(whole[i].start, whole[i].end) for i in done]
    )
    assert covered == [(s.start, s.end) for s in whole]


def test_a_last_segment_of_one_byte_and_an_exact_multiple() -> None:
    assert plan_segments(10, segment_size=3)[-1] == Segment(3, 9, 10)
    assert plan_segments(9, segment_size=3)[-1] == Segment(2, 6, 9)
    assert plan_segments(0, segment_size=3) == []
    with pytest.raises(ValueError, match="segment_size"):
        plan_segments(10, segment_size=0)


@given(
    total=st.integers(min_value=1, max_value=10**9),
    segment_size=st.integers(min_value=1_000, max_value=10**8),
    data=st.data(),
)
@settings(max_examples=100, deadline=None)
def test_the_record_of_done_segments_survives_json(
    total: int, segment_size: int, data: st.DataObject
) -> None:
    count = -(-total // segment_size)
    done = data.draw(st.sets(st.integers(min_value=0, max_value=min(count - 1, 2_000))))
    record = SegmentRecord.empty(total, segment_size)
    for index in done:
        record = record.with_done(index)
    again = msgspec.json.decode(msgspec.json.encode(record), type=SegmentRecord)
    assert again.done_for(total, segment_size) == done
    # A record made under another plan names other ranges: it counts for nothing.
    assert again.done_for(total + 1, segment_size) == set()
    assert again.done_for(total, segment_size + 1) == set()


def test_a_record_with_bad_hex_or_bits_past_the_end_claims_nothing_more() -> None:
    assert SegmentRecord(total=100, segment_size=10, done="zz").indexes() == set()
    assert SegmentRecord(total=100, segment_size=10, done="ffff").indexes() == set(range(10))


def test_segment_config_rejects_nonsense_and_applies_only_to_large_ranged_files() -> None:
    with pytest.raises(ValueError, match="segment_size"):
        SegmentConfig(segment_size=0)
    with pytest.raises(ValueError, match="max_connections"):
        SegmentConfig(max_connections=0)
    config = SegmentConfig(segment_size=100, threshold=1_000)
    assert config.applies(1_001, accept_ranges="bytes")
    assert config.applies(1_001, accept_ranges=" Bytes ")
    assert not config.applies(1_000, accept_ranges="bytes")
    assert not config.applies(None, accept_ranges="bytes")
    assert not config.applies(5_000, accept_ranges=None)
    assert not config.applies(5_000, accept_ranges="none")


@pytest.mark.anyio
@pytest.mark.parametrize("seed", range(6))
async def test_prefix_hash_matches_hashlib_whatever_order_segments_finish(
    tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    total = rng.randrange(1, 3_000_000)
    data = rng.randbytes(total)
    plan = plan_segments(
        total,
        segment_size=rng.choice([1, 7, 4096, 65_537, 1 << 20])
        if total < 50_000
        else rng.choice([65_537, 1 << 20]),
    )
    order = list(plan)
    rng.shuffle(order)
    fd = os.open(tmp_path / "part", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.ftruncate(fd, total)
        hasher = PrefixHasher(fd, block=rng.choice([1000, 1 << 20]))
        for segment in order:
            os.pwrite(fd, data[segment.start : segment.end], segment.start)
            await hasher.add(segment.start, segment.end)
            # The digest never runs past a gap.
            unfinished = [s.start for s in plan if s not in order[: order.index(segment) + 1]]
            assert hasher.offset == (min(unfinished) if unfinished else total)
        assert hasher.hexdigest(total) == hashlib.sha256(data).hexdigest()
    finally:
        os.close(fd)


@pytest.mark.anyio
async def test_prefix_hash_refuses_a_digest_while_a_gap_remains(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "part", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, b"abcdef", 0)
        hasher = PrefixHasher(fd)
        await hasher.add(3, 6)
        with pytest.raises(ValueError, match="hashed 0 of 6"):
            hasher.hexdigest(6)
        await hasher.add(0, 3)
        assert hasher.hexdigest(6) == hashlib.sha256(b"abcdef").hexdigest()
    finally:
        os.close(fd)
