"""DestDir: every operation under DEST walks directory descriptors and follows no symlink."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiocircleci._fs import DestDir, Kind
from aiocircleci.errors import UnsafePath


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, Path]:
    """DEST with symlinks to a directory and to a file outside it."""
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (outside / "secret").write_text("not yours")
    (dest / "linkdir").symlink_to(outside, target_is_directory=True)
    (dest / "linkfile").symlink_to(outside / "secret")
    (dest / "file").write_text("a file")
    return dest, outside


def test_what_stands_at_a_name_is_seen_without_following_it(planted: tuple[Path, Path]) -> None:
    dest, _ = planted
    with DestDir.open(dest) as root:
        assert root.kind("linkdir") is Kind.SYMLINK
        assert root.kind("linkfile") is Kind.SYMLINK
        assert root.kind("file") is Kind.FILE
        assert root.kind("nothing") is Kind.MISSING
        with pytest.raises(UnsafePath, match="a symlink stands where the directory linkdir"):
            root.kind("linkdir/secret")
        with pytest.raises(UnsafePath, match="a file stands where the directory file"):
            root.kind("file/below")


def test_writes_through_a_planted_symlink_are_refused(planted: tuple[Path, Path]) -> None:
    dest, outside = planted
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    with DestDir.open(dest) as root:
        with pytest.raises(UnsafePath, match="a symlink stands at the file's name"):
            root.open_file("linkfile", flags)
        with pytest.raises(UnsafePath, match="symlink"):
            root.open_file("linkdir/new", flags)
        with pytest.raises(UnsafePath, match="symlink"):
            root.makedirs("linkdir/a/b")
        with pytest.raises(UnsafePath, match="symlink"):
            root.rename("file", "linkdir/moved")
        with pytest.raises(UnsafePath, match="a symlink"):
            root.sha256("linkfile")
        root.unlink("linkfile")  # the link itself goes, never its target
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_text() == "not yours"
    assert not os.path.lexists(dest / "linkfile")


def test_files_are_created_renamed_and_hashed_inside_dest(tmp_path: Path) -> None:
    with DestDir.open(tmp_path / "dest", create=True) as root:
        fd = root.open_file("a/b/c.part", os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        os.write(fd, b"payload")
        os.close(fd)
        root.rename("a/b/c.part", "a/b/c")
        assert root.kind("a/b/c") is Kind.FILE
        assert root.kind("a/b/c.part") is Kind.MISSING
        size, sha = root.sha256("a/b/c")
        lstat = root.lstat("a/b")
        assert lstat is not None
    assert (size, sha) == (7, "239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5")
    assert (tmp_path / "dest/a/b/c").read_bytes() == b"payload"
    with DestDir.open(tmp_path) as root, pytest.raises(UnsafePath):
        root.kind("../escape")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_directory_descriptors_kept_open_are_bounded_and_never_closed_under_a_user(
    tmp_path: Path,
) -> None:
    before = _open_fds()
    with DestDir.open(tmp_path / "dest", create=True, max_dirs=2) as root:
        held = root.acquire_dir("held/here", create=True)
        for i in range(10):
            root.acquire_dir(f"d{i}/sub", create=True)
            root.release_dir(f"d{i}/sub")
            # DEST, the held directory and at most two unused ones.
            assert _open_fds() <= before + 1 + 1 + 2
        # The held descriptor was never closed or reused: it is still that directory.
        assert root.acquire_dir("held/here") == held
        made = os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=held)
        os.close(made)
        root.release_dir("held/here")
        root.release_dir("held/here")
    assert (tmp_path / "dest/held/here/f").is_file()
    assert _open_fds() == before


def test_a_symlink_swapped_in_for_a_known_directory_is_never_followed(tmp_path: Path) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    outside.mkdir()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    with DestDir.open(dest, create=True) as root:
        os.close(root.open_file("a/first", flags))
        # The directory goes away and a symlink out of DEST takes its name.
        (dest / "a").rename(dest / "moved")
        (dest / "a").symlink_to(outside, target_is_directory=True)
        os.close(root.open_file("a/second", flags))
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in (dest / "moved").iterdir()) == ["first", "second"]


def test_only_a_directory_this_walk_created_counts_as_made_by_the_run(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    (dest / "old").mkdir(parents=True)
    with DestDir.open(dest, max_dirs=0) as root:
        root.acquire_dir("old", create=True)
        root.acquire_dir("old/new", create=True)
        # A directory that was there may hold an earlier run's files: never "made".
        assert not root.made("old")
        assert root.made("old/new")
        root.release_dir("old")
        root.release_dir("old/new")
        # Once its descriptor is closed, a later walk finds it existing.
        root.acquire_dir("old/new")
        assert not root.made("old/new")
        root.release_dir("old/new")
        assert not root.made("never/walked")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_a_forgotten_directory_is_walked_to_again_and_its_old_descriptor_closed_after_use(
    tmp_path: Path,
) -> None:
    before = _open_fds()
    with DestDir.open(tmp_path / "dest", create=True) as root:
        old = root.acquire_dir("a/b", create=True)
        (tmp_path / "dest/a/b").rmdir()
        root.forget_dir("a/b")  # a user of the old descriptor found the directory gone
        new = root.acquire_dir("a/b", create=True)
        assert root.made("a/b")
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=new))
        root.release_dir("a/b", old)  # the old one closes with its last user
        root.release_dir("a/b", new)
        assert _open_fds() == before + 2  # DEST and the kept a/b
    assert (tmp_path / "dest/a/b/f").is_file()
    assert _open_fds() == before
