"""``aiocircleci demo``, as the README's first command runs it: offline, verified, incremental."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from aiocircleci._manifest import read_manifest


def _demo(cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    # No token and no base URL: the demo brings its own emulator.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIRCLE", "CIRCLECI"))}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "aiocircleci", "demo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "\x1b" not in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
    return done, time.perf_counter() - started


def test_demo_mirrors_verifies_every_file_and_a_second_run_skips_them_all(tmp_path: Path) -> None:
    first, seconds = _demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert seconds < 30
    rows = list(read_manifest(tmp_path / "aiocircleci-demo"))
    assert len(rows) > 200
    assert f"done      {len(rows)}" in first.stderr
    assert f"verified {len(rows)} files against the emulator's sha256: all match" in first.stderr
    assert "0 rate-limited (429)" in first.stderr
    sizes = sorted(r.size or 0 for r in rows)
    assert sizes[-1] >= 8 * 1024 * 1024  # some large ones

    second, seconds = _demo(tmp_path)
    assert second.returncode == 0, second.stderr
    assert seconds < 30
    assert "done      0\n" in second.stderr
    assert f"skipped   {len(rows)}\n" in second.stderr
    assert "received  0 B" in second.stderr
    assert "all match" in second.stderr
