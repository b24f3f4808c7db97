"""What the downloader's collision claims cost: memory and time per claim, in memory vs on disk.

Run as ``python -m benchmarks.claims [--json] [--sizes 2000,200000]``.
``Downloader`` claims every path it is given (two URLs with one path land under
distinct names), so ``download -i`` of a long list keeps one claim per file.
For each size and each store (``PathClaims``: sets in memory; ``DiskClaims``:
a temporary SQLite file, what the downloader uses), a fresh process claims
that many mirror-shaped paths and reports its peak RSS (``ru_maxrss`` from
``wait4``, what ``/usr/bin/time -v`` prints as "Maximum resident set size")
and the time per claim.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import PurePosixPath

STORES = ("PathClaims", "DiskClaims")


def _path(i: int) -> PurePosixPath:
    return PurePosixPath(f"gh/org/repo/{i // 1000}/build-a1b2c3d4/test-{i % 10}/0/out/f-{i}.xml")


def _child(store: str, size: int) -> None:
    from aiocircleci._paths import PathClaims
    from aiocircleci.download._claims import DiskClaims

    claims = PathClaims() if store == "PathClaims" else DiskClaims()
    started = time.perf_counter()
    for i in range(size):
        claims.claim(_path(i))
    print(time.perf_counter() - started)


def measure(store: str, size: int) -> dict[str, object]:
    argv = [sys.executable, "-m", "benchmarks.claims", "--child", store, str(size)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    seconds = float(process.stdout.read())
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{store} {size} failed")
    return {
        "store": store,
        "claims": size,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "us_per_claim": round(seconds / size * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    parser.add_argument("--sizes", default="2000,200000", help="comma-separated claim counts")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return
    runs = [measure(s, int(n)) for n in args.sizes.split(",") for s in STORES]
    if args.json:
        print(json.dumps({"python": platform.python_version(), "runs": runs}, indent=2))
        return
    for run in runs:
        print(
            f"{run['store']:>10} {run['claims']:>8} claims: "
            f"peak RSS {run['peak_rss_mib']} MiB, {run['us_per_claim']} us/claim"
        )


if __name__ == "__main__":
    main()
