"""Untrusted artifact paths never lead outside the destination."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocircleci._paths import MAX_NAME_BYTES, PathClaims, resolve_inside, safe_relpath
from aiocircleci.download._claims import DiskClaims
from aiocircleci.errors import UnsafePath


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.xml", "report.xml"),
        ("/home/circleci/project/out.txt", "home/circleci/project/out.txt"),
        ("C:\\Users\\ci\\out.txt", "Users/ci/out.txt"),
        ("\\\\server\\share\\x", "server/share/x"),
        ("a/./b//c", "a/b/c"),
        ("a/b/../c", "a/c"),
        ("tmp/bell\x07name\x1b[31m", "tmp/bell_name_[31m"),
        ("%2e%2e/x", "%2e%2e/x"),
        ("...", "..."),
    ],
)
def test_untrusted_path_becomes_relative_path_inside_destination(raw: str, expected: str) -> None:
    assert safe_relpath(raw) == PurePosixPath(expected)


@pytest.mark.parametrize(
    "raw",
    ["../etc/passwd", "a/../../x", "..\\..\\windows", "/", "", ".", "a\0b", "C:", "x/.."],
)
def test_path_that_escapes_or_names_nothing_is_refused(raw: str) -> None:
    with pytest.raises(UnsafePath):
        safe_relpath(raw)


def test_overlong_names_are_shortened_but_stay_distinct() -> None:
    a = safe_relpath("d/" + "a" * 400 + "1.log")
    b = safe_relpath("d/" + "a" * 400 + "2.log")
    assert a != b
    assert all(len(p.encode()) <= MAX_NAME_BYTES for p in (a.name, b.name))
    assert a.suffix == ".log"


def test_overlong_whole_path_is_refused() -> None:
    with pytest.raises(UnsafePath):
        safe_relpath("/".join(["d" * 200] * 40))


def test_colliding_paths_get_distinct_names_in_claim_order() -> None:
    claims = PathClaims()
    first = claims.claim(safe_relpath("out/report.xml"))
    second = claims.claim(safe_relpath("out\\report.xml"))
    third = claims.claim(safe_relpath("/out/./report.xml"))
    assert [str(first), str(second), str(third)] == [
        "out/report.xml",
        "out/report~2.xml",
        "out/report~3.xml",
    ]


def test_file_and_directory_with_one_name_both_survive() -> None:
    claims = PathClaims()
    assert str(claims.claim(PurePosixPath("a"))) == "a"
    assert str(claims.claim(PurePosixPath("a/b"))) == "a~2/b"
    assert str(claims.claim(PurePosixPath("c/d"))) == "c/d"
    assert str(claims.claim(PurePosixPath("c"))) == "c~2"


def test_artifact_named_like_a_temporary_file_does_not_clash_with_it() -> None:
    claims = PathClaims()
    assert str(claims.claim(PurePosixPath("x"))) == "x"
    assert str(claims.claim(PurePosixPath("x.part"))) == "x~2.part"
    other = PathClaims()
    assert str(other.claim(PurePosixPath("y.part"))) == "y.part"
    assert str(other.claim(PurePosixPath("y"))) == "y~2"


def test_case_folding_claims_keep_case_variants_apart() -> None:
    claims = PathClaims(fold_case=True)
    assert str(claims.claim(PurePosixPath("A.txt"))) == "A.txt"
    assert str(claims.claim(PurePosixPath("a.TXT"))) == "a~2.TXT"


def test_symlinked_directory_leading_outside_is_caught(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    os.symlink(outside, dest / "link")
    with pytest.raises(UnsafePath):
        resolve_inside(dest, PurePosixPath("link/file"))
    assert resolve_inside(dest, PurePosixPath("sub/file")) == dest.resolve() / "sub" / "file"


_hostile_chars = st.sampled_from(["/", "\\", "..", ".", "\0", "\x01", "\n", ":", "C:", "é", "a"])
_hostile = st.lists(st.one_of(_hostile_chars, st.text(max_size=6)), max_size=12).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_hostile)
def test_no_untrusted_path_ever_resolves_outside_destination(raw: str) -> None:
    dest = Path("/srv/dest")
    try:
        rel = safe_relpath(raw)
    except UnsafePath:
        return
    assert not rel.is_absolute()
    assert ".." not in rel.parts
    assert "\0" not in str(rel)
    joined = os.path.normpath(dest.joinpath(*rel.parts))
    assert joined.startswith(str(dest) + os.sep)
    assert all(len(p.encode()) <= MAX_NAME_BYTES for p in rel.parts)


@given(
    paths=st.lists(
        st.lists(
            st.sampled_from(["a", "A", "b", "a.part", "x.txt", "X.TXT", "x.txt.part"]),
            min_size=1,
            max_size=3,
        ).map("/".join),
        max_size=12,
    ),
    fold_case=st.booleans(),
)
def test_claims_kept_on_disk_give_the_same_names_as_claims_in_memory(
    paths: list[str], fold_case: bool
) -> None:
    memory = PathClaims(fold_case=fold_case)
    disk = DiskClaims(fold_case=fold_case)
    try:
        for raw in paths:
            rel = safe_relpath(raw)
            assert disk.claim(rel) == memory.claim(rel)
        assert len(disk) == len(memory)
    finally:
        disk.close()


def test_claims_on_disk_still_collide_after_their_batch_went_to_the_database() -> None:
    # More claims than one batch of inserts, then the same names again: the second
    # round is answered by the database (and the Bloom filter), not the batch.
    names = [f"d{i % 7}/f{i}.txt" for i in range(700)]
    memory, disk = PathClaims(), DiskClaims()
    try:
        for raw in [*names, *names, "d3", "d3/f3.txt/x"]:
            rel = safe_relpath(raw)
            assert disk.claim(rel) == memory.claim(rel)
        third = safe_relpath("d1/f1.txt")
        assert disk.claim(third) == memory.claim(third) == PurePosixPath("d1/f1~3.txt")
        assert len(disk) == len(memory) == 1403
    finally:
        disk.close()
