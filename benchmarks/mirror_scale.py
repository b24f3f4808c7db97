"""Does the mirror's memory stay flat as the number of files grows?

Run as ``python -m benchmarks.mirror_scale [--json] [--sizes 2000,20000,200000]``.
For each size the emulator serves a world of that many small artifacts (100 per
job, 10 jobs per workflow, one workflow per pipeline: the number of pipelines
grows with the size), and ``aiocircleci mirror -q`` mirrors all of it into an
empty directory, in its own process, as a user runs it.

Figures per size: the mirror process's peak RSS (``ru_maxrss`` from ``wait4``,
the same figure ``/usr/bin/time -v`` prints as "Maximum resident set size"),
its wall time and files per second. The emulator runs in its own process
(``aiocircleci fake-server``), and this script stays small: a child's
``ru_maxrss`` also counts the parent's pages it shared before ``exec``, so an
emulator (its world grows with the size) in the parent would inflate the
figure with sizes. That is what a first version of this script measured.
The claim to check: peak RSS for 200,000 files within 10 MiB of the peak for
2,000.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from aiocircleci.testing import World, WorldConfig

SEED = 7
ARTIFACTS_PER_JOB = 100
JOBS_PER_WORKFLOW = 10
PER_PIPELINE = ARTIFACTS_PER_JOB * JOBS_PER_WORKFLOW


@dataclass(frozen=True)
class ScaleRun:
    files: int
    pipelines: int
    peak_rss_mib: float
    seconds: float
    files_per_second: float
    exit_code: int


def world(files: int) -> WorldConfig:
    if files % PER_PIPELINE:
        raise SystemExit(f"sizes must be multiples of {PER_PIPELINE}")
    return WorldConfig(
        projects=1,
        pipelines_per_project=files // PER_PIPELINE,
        workflows_per_pipeline=1,
        jobs_per_workflow=JOBS_PER_WORKFLOW,
        artifacts_per_job=ARTIFACTS_PER_JOB,
        max_artifact_size=64,
        tests_per_job=0,
        quirks=False,
    )


def _fake_server(files: int) -> tuple[subprocess.Popen[str], str, str]:
    """The emulator in its own process (``aiocircleci fake-server``): its base URL, token."""
    config = world(files)
    argv = [sys.executable, "-m", "aiocircleci", "fake-server", "--seed", str(SEED), "--public"]
    argv += ["--projects", "1", "--pipelines", str(config.pipelines_per_project)]
    argv += ["--workflows", "1", "--jobs", str(JOBS_PER_WORKFLOW)]
    argv += ["--artifacts", str(ARTIFACTS_PER_JOB), "--max-artifact-size", "64", "--no-quirks"]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    token = server.stdout.readline().removeprefix("token:").strip()
    return server, base_url, token


def run_one(files: int, workdir: Path) -> ScaleRun:
    config = world(files)
    # The slug depends on the seed only; a one-pipeline world names it cheaply.
    slug = World(seed=SEED, config=world(PER_PIPELINE)).projects[0].slug
    server, base_url, token = _fake_server(files)
    try:
        dest = workdir / f"m{files}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIRCLE")}
        env.update(CIRCLECI_BASE_URL=base_url, CIRCLE_TOKEN=token)
        argv = [sys.executable, "-m", "aiocircleci", "-q", "--json", "mirror", slug]
        argv += ["--dest", str(dest), "--api-rate", "100000"]
        errors = workdir / f"m{files}.stderr"
        started = time.perf_counter()
        with errors.open("wb") as err:
            process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=err)
            assert process.stdout is not None
            out = process.stdout.read()
            # wait4, not wait: it returns the child's own rusage (its peak RSS).
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = code = os.waitstatus_to_exitcode(status)
            seconds = time.perf_counter() - started
            process.stdout.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
    if code != 0:
        sys.stderr.write(errors.read_text(errors="replace"))
    done = json.loads(out)["files"] if out else {"done": 0, "skipped": 0}
    mirrored = done["done"] + done["skipped"]
    if mirrored != files:
        raise SystemExit(f"mirrored {mirrored} of {files} files")
    shutil.rmtree(dest, ignore_errors=True)
    return ScaleRun(
        files=files,
        pipelines=config.pipelines_per_project,
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
        seconds=round(seconds, 1),
        files_per_second=round(files / seconds),
        exit_code=code,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--sizes", default="2000,20000,200000", help="comma-separated file counts")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs: list[ScaleRun] = []
    with tempfile.TemporaryDirectory(prefix="aiocircleci-scale-") as tmp:
        for size in sizes:
            runs.append(run_one(size, Path(tmp)))
            if not args.json:
                r = runs[-1]
                print(
                    f"{r.files:>8} files  peak RSS {r.peak_rss_mib:6.1f} MiB  "
                    f"{r.seconds:7.1f} s  {r.files_per_second:>6} files/s",
                    flush=True,
                )
    growth = runs[-1].peak_rss_mib - runs[0].peak_rss_mib
    result = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "runs": [asdict(r) for r in runs],
        "rss_growth_mib": round(growth, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"peak RSS growth from {runs[0].files} to {runs[-1].files} files: {growth:.1f} MiB")


if __name__ == "__main__":
    main()
