"""A DEST with a URL scheme is never written as a local directory (``s3:`` and friends)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiocircleci.cli import main

COMMANDS = {
    "mirror": ["mirror", "gh/acme/api"],
    "download": ["download", "-i", "-"],
    "demo": ["demo"],
}


def _run(cwd: Path, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE", "AWS_"))}
    env["CIRCLE_TOKEN"] = "x" * 40
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [sys.executable, "-m", "aiocircleci", *args],
        cwd=cwd,
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def _run_here(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> str:
    """The CLI in this process, from an empty directory: its one line of stderr."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIRCLE_TOKEN", "x" * 40)
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    code = main(list(args))
    captured = capsys.readouterr()
    return _one_error_line(subprocess.CompletedProcess(args, code, captured.out, captured.err))


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize(
    ("dest", "message"),
    [
        ("ftp://host/dir", "unsupported scheme ftp://"),
        ("s4://bucket/prefix", "unsupported scheme s4://"),
        ("https://bucket.example/prefix", "unsupported scheme https://"),
        ("s3://bucket/a/../b", "'..'"),
    ],
)
def test_an_unsupported_scheme_exits_2_in_one_line_and_writes_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
    dest: str,
    message: str,
) -> None:
    line = _run_here(tmp_path, monkeypatch, capsys, *COMMANDS[command], "--dest", dest)
    assert message in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["download"])
def test_an_object_store_dest_is_not_written_as_a_local_directory(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    line = _run_here(
        tmp_path, monkeypatch, capsys, *COMMANDS[command], "--dest", "s3://bucket/prefix"
    )
    assert "s3://bucket/prefix" in line
    assert "object store" in line
    assert list(tmp_path.iterdir()) == []  # no "s3:" directory


def test_without_the_cloud_extra_an_s3_dest_names_the_extra(tmp_path: Path) -> None:
    # A package that fails to import stands in for obstore not being installed.
    shadow = tmp_path / "shadow"
    (shadow / "obstore").mkdir(parents=True)
    (shadow / "obstore" / "__init__.py").write_text("raise ImportError('not installed')\n")
    work = tmp_path / "work"
    work.mkdir()
    done = _run(work, "mirror", "gh/acme/api", "--dest", "s3://bucket/p", pythonpath=shadow)
    assert "pip install 'aiocircleci[cloud]'" in _one_error_line(done)
    assert list(work.iterdir()) == []
