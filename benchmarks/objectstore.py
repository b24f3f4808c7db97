"""The object-store writer against a local directory: files/s, MB/s and RSS.

Run as ``python -m benchmarks.objectstore [--json]``. Bodies are generated in
memory (fresh bytes per 64 KiB chunk, as network bodies arrive) and written
eight at a time, in a child process per run so that each run's peak RSS is its
own (``ru_maxrss`` from ``wait4``):

* ``disk``: each body streamed to ``NAME.part`` and renamed into place, as the
  downloader does;
* ``s3``: each body streamed by ``ObjectStoreWriter.upload`` (multipart, parts
  of 8 MiB, 2 in flight) to moto's S3 server on 127.0.0.1, started here in its
  own process.

Two shapes: many small files and a few large ones. moto is a Python server and
keeps every object in its memory, so the ``s3`` figures measure moto as much as
the writer; they bound what a real endpoint would give from below.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

CHUNK = 64 * 1024
CONCURRENCY = 8


@dataclass(frozen=True)
class Run:
    destination: str
    files: int
    file_bytes: int
    seconds: float
    files_per_second: float
    megabytes_per_second: float
    peak_rss_mib: float


def _child(destination: str, target: str, files: int, size: int) -> None:
    """Write ``files`` bodies of ``size`` bytes; print the seconds it took."""
    import anyio

    from aiocircleci._objectstore import ObjectStoreWriter, StoreSettings, parse_dest

    block = bytearray(os.urandom(CHUNK))

    async def body(n: int) -> AsyncIterator[bytes]:
        sent = 0
        while sent < n:
            take = min(CHUNK, n - sent)
            yield bytes(block[:take])
            sent += take

    async def to_disk(i: int) -> None:
        path = Path(target) / f"f{i:05d}.bin"
        part = path.with_name(path.name + ".part")
        async with await anyio.open_file(part, "wb") as f:
            async for chunk in body(size):
                await f.write(chunk)
        await anyio.to_thread.run_sync(os.replace, part, path)

    async def main() -> None:
        writer = None
        if destination == "s3":
            url = parse_dest(target)
            assert url is not None
            writer = ObjectStoreWriter(url, StoreSettings.from_env())
        limit = anyio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with limit:
                if writer is None:
                    await to_disk(i)
                else:
                    await writer.upload(f"f{i:05d}.bin", body(size))

        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(files):
                tg.start_soon(one, i)
        print(time.perf_counter() - started, flush=True)

    anyio.run(main)
    # obstore's tokio threads may still call into Python as the interpreter
    # finalizes, which aborts Python 3.11 (exit -6) now and then; the figures
    # are printed by now, so leave without finalizing.
    os._exit(0)


def _run(destination: str, target: str, files: int, size: int, env: dict[str, str]) -> Run:
    argv = [sys.executable, "-m", "benchmarks.objectstore", "--child", destination, target]
    child = subprocess.Popen(
        [*argv, str(files), str(size)], env=env, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    out = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"the {destination} run failed ({child.returncode})")
    seconds = float(out)
    return Run(
        destination=destination,
        files=files,
        file_bytes=size,
        seconds=round(seconds, 2),
        files_per_second=round(files / seconds, 1),
        megabytes_per_second=round(files * size / 1e6 / seconds, 1),
        peak_rss_mib=round(usage.ru_maxrss / 1024, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.objectstore", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--small", type=int, default=1000, help="small files (16 KiB each)")
    parser.add_argument("--large", type=int, default=8, help="large files (32 MiB each)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        destination, target, files, size = args.child
        _child(destination, target, int(files), int(size))
        return

    from tests._servers import _answers, _running, free_port

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    moto = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    runs: list[Run] = []
    with (
        _running(moto, _answers(f"{endpoint}/moto-api/"), "moto server"),
        tempfile.TemporaryDirectory(prefix="aiocircleci-bench-") as tmp,
    ):
        for name, files, size in (
            ("small", args.small, 16 * 1024),
            ("large", args.large, 32 << 20),
        ):
            bucket = f"bench-{name}"
            create = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")
            with urllib.request.urlopen(create, timeout=10) as response:
                response.read()
            disk = Path(tmp) / name
            disk.mkdir()
            runs.append(_run("disk", str(disk), files, size, env))
            runs.append(_run("s3", f"s3://{bucket}/mirror", files, size, env))
    result = {
        "runs": [asdict(r) for r in runs],
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(terse=True),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(
        f"{'destination':12}{'files':>7}{'size':>10}{'seconds':>9}{'files/s':>9}{'MB/s':>8}"
        f"{'peak RSS MiB':>14}"
    )
    for r in runs:
        print(
            f"{r.destination:12}{r.files:7d}{r.file_bytes:10d}{r.seconds:9.2f}"
            f"{r.files_per_second:9.1f}{r.megabytes_per_second:8.1f}{r.peak_rss_mib:14.1f}"
        )


if __name__ == "__main__":
    main()
