"""The property "no write escapes DEST", for the downloader, with DEST already hostile.

Hypothesis picks what stands in DEST before the run: directories, regular files,
and symlinks to a file or a directory outside DEST, planted at the downloader's
every kind of path: final names, directories on their way, ``NAME.part`` and
``NAME.part.meta``. Small bodies take the one-go path, a large one streams
through ``.part`` and ``.part.meta``. Whatever stands there, nothing outside DEST
changes, nothing planted counts as complete, every file reported done is a
regular file inside DEST with its bytes, and every failure is that file's alone.
"""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocircleci.download import DownloadRequest, download_all
from aiocircleci.errors import UnsafePath

from .conftest import _serve

BIG = os.urandom(600_000)  # more than a chunk: it streams through .part and .part.meta
BODIES = {"a.txt": b"small a", "d/b.bin": BIG, "d/e/c.txt": b"small c"}
PLANTS = ("dir", "file", "link-file", "link-dir", "link-dangling")
SPOTS = (
    *BODIES,
    "d",
    "d/e",
    *(name + suffix for name in BODIES for suffix in (".part", ".part.meta")),
)


def _app() -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        return web.Response(body=BODIES[request.path.lstrip("/")], headers={"ETag": '"v1"'})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    return app


def _snapshot(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in sorted(root.rglob("*"))
    }


def _plant(dest: Path, outside: Path, spot: str, kind: str) -> None:
    where = dest / spot
    if os.path.lexists(where):
        return  # an earlier plant already stands there
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return  # a file or symlink planted on the way: this one cannot go in
    if not where.parent.resolve().is_relative_to(dest.resolve()):
        return
    if kind == "dir":
        where.mkdir()
    elif kind == "file":
        where.write_bytes(b"planted")
    elif kind == "link-file":
        where.symlink_to(outside / "secret.txt")
    elif kind == "link-dir":
        where.symlink_to(outside / "elsewhere", target_is_directory=True)
    else:
        where.symlink_to(outside / "nothing-yet")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plants=st.lists(st.tuples(st.sampled_from(SPOTS), st.sampled_from(PLANTS)), max_size=5))
def test_no_download_write_escapes_dest_whatever_already_stands_there(
    plants: list[tuple[str, str]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    sandbox = tmp_path_factory.mktemp("sandbox")
    dest = sandbox / "dest"
    outside = sandbox / "outside"
    (outside / "elsewhere").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"not yours")
    dest.mkdir()
    for spot, kind in plants:
        _plant(dest, outside, spot, kind)
    before = _snapshot(outside)
    first: dict[str, str] = {}
    for spot, kind in plants:
        first.setdefault(spot, kind)
    # A regular file at a final name (no size or sha256 to check it by) counts as complete.
    planted_files = {spot for spot, kind in first.items() if kind == "file" and spot in BODIES}

    async def main() -> tuple[set[str], set[str], set[str], dict[str, str]]:
        async with _serve(_app()) as base:
            requests = [DownloadRequest(f"{base}/{rel}", rel) for rel in BODIES]
            report = await download_all(requests, dest, workers=2, claim_paths=False)
        for result in report.failed:
            assert isinstance(result.error, UnsafePath), result.reason
        done = {r.path for r in report.done}
        skipped = {r.path for r in report.skipped}
        failed = {r.request.path: r.reason for r in report.failed}
        return done, skipped, set(failed), failed

    done, skipped, failed, reasons = anyio.run(main, backend="asyncio")
    assert done | skipped | failed == set(BODIES)
    assert len(done) + len(skipped) + len(failed) == len(BODIES)
    # Only a regular file counts as complete: no directory, no symlink.
    assert skipped <= planted_files
    # Nothing outside DEST changed, and nothing appeared beside DEST.
    assert _snapshot(outside) == before
    assert {p.name for p in sandbox.iterdir()} == {"dest", "outside"}
    real_dest = dest.resolve()
    for rel in done:
        path = dest / rel
        assert not path.is_symlink()
        assert path.resolve().is_relative_to(real_dest)
        assert path.read_bytes() == BODIES[rel]
    for rel in skipped:
        assert (dest / rel).read_bytes() == b"planted"
    for rel in failed:
        assert reasons[rel]


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["a.txt", "d/b.bin"])
async def test_a_symlink_planted_at_part_meta_is_replaced_never_followed(
    name: str, tmp_path: Path
) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "secret.txt"
    outside.write_bytes(b"not yours")
    (dest / name).parent.mkdir(parents=True)
    (dest / f"{name}.part.meta").symlink_to(outside)
    async with _serve(_app()) as base:
        report = await download_all([DownloadRequest(f"{base}/{name}", name)], dest)
    assert report.ok, report.failed
    assert outside.read_bytes() == b"not yours"
    assert (dest / name).read_bytes() == BODIES[name]
    assert sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file()) == [name]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("plant", "reason"),
    [
        ("dir", "a directory stands at the file's name"),
        ("link-file", "a symlink stands at the file's name"),
        ("link-dangling", "a symlink stands at the file's name"),
    ],
)
async def test_something_else_at_a_final_name_is_that_files_failure_never_complete(
    plant: str, reason: str, tmp_path: Path
) -> None:
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    (outside / "elsewhere").mkdir(parents=True)
    (outside / "secret.txt").write_bytes(b"not yours")
    dest.mkdir()
    _plant(dest, outside, "a.txt", plant)
    async with _serve(_app()) as base:
        requests = [DownloadRequest(f"{base}/{rel}", rel) for rel in ("a.txt", "d/e/c.txt")]
        for overwrite in (False, True):
            report = await download_all(requests, dest, overwrite=overwrite)
            assert [(r.path, r.reason) for r in report.failed] == [("a.txt", reason)]
            assert report.files_skipped == 0
            assert (dest / "d/e/c.txt").read_bytes() == BODIES["d/e/c.txt"]
    assert (outside / "secret.txt").read_bytes() == b"not yours"
    assert not (dest / "a.txt.part").exists()
