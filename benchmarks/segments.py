"""Segmented fetching (``aiocircleci._segments``) against ``aria2c -x16 -s16``.

Run as ``python -m benchmarks.segments [--json]``. It builds the large corpus of
``benchmarks.download_vs_peers`` (by default 2 files of 256 MiB) in tmpfs, serves
it with that script's nginx under ``/capped/`` with ``limit_rate`` (32 MiB/s per
connection by default, as object stores cap one stream), and fetches both files
with:

- ``segments-prefix``: a child process that asks each file's length with a
  one-byte range, then runs ``fetch_segments`` for both files at once (one shared
  connection cap), writing with ``os.pwrite`` and hashing with ``PrefixHasher``
  as segments complete;
- ``segments-reread``: the same, but the sha256 is computed by reading each file
  back once it is whole;
- ``segments-prefix-loop`` and ``segments-reread-loop``: the same two with
  ``os.pwrite`` on the event loop instead of a worker thread;
- ``aria2c-x16`` (and ``curl`` on request), when installed.

Every run goes into a fresh directory and is checked (file count and bytes; our
children also check each sha256 against the served file's). Rounds rotate the
tools' order. Reported: median wall time, CPU time and peak RSS (GNU time), and
for our children the median time from the last byte to the last digest (the
hash's tail: what hashing costs after the download proper).

Without nginx the script stops: the emulator's ``limit_rate`` could stand in,
but it would share the two cores' CPU with the client in a way nginx does not.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from pathlib import Path

import anyio

from aiocircleci._config import Limits
from aiocircleci._http import Request
from aiocircleci._segments import (
    DEFAULT_WRITE_SIZE,
    PrefixHasher,
    Segment,
    SegmentConfig,
    fetch_segments,
    plan_segments,
)
from aiocircleci._send import Sender
from aiocircleci._transport import AiohttpTransport
from benchmarks.download_vs_peers import (
    CHILD_ENV,
    Corpus,
    MiB,
    Result,
    Tool,
    _aria2c_segmented,
    _curl,
    _default_workdir,
    build_corpus,
    capped_corpus,
    nginx_server,
    run_corpus,
    stop_on_sigterm,
    write_url_lists,
)

# -- the child: one process that fetches every file of a list with fetch_segments


async def _fetch_one(
    sender: Sender,
    url: str,
    expected: str,
    dest: Path,
    *,
    mode: str,
    config: SegmentConfig,
    connections: anyio.CapacityLimiter,
    tails: list[float],
    write_on_thread: bool,
) -> None:
    async with sender.open(Request("GET", url, headers={"Range": "bytes=0-0"})) as exchange:
        resp = exchange.response
        await resp.read()
        total = int((resp.headers.get("Content-Range") or "/0").rpartition("/")[2])
        validator = resp.headers.get("ETag")
    path = dest / url.rpartition("/")[2]
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.ftruncate(fd, total)
        hasher = PrefixHasher(fd)

        def write_at(offset: int, data: bytes) -> Awaitable[int] | None:
            if write_on_thread:
                # pwrite releases the GIL: the copy into the page cache overlaps the loop.
                return anyio.to_thread.run_sync(os.pwrite, fd, data, offset)
            os.pwrite(fd, data, offset)
            return None

        async def done(segment: Segment) -> None:
            if mode == "prefix":
                await hasher.add(segment.start, segment.end)

        await fetch_segments(
            sender,
            url,
            total=total,
            validator=validator,
            write_at=write_at,
            plan=plan_segments(total, segment_size=config.segment_size),
            config=config,
            connections=connections,
            on_done=done,
        )
        last_byte = time.perf_counter()
        if mode == "prefix":
            digest = hasher.hexdigest(total)
        else:
            digest = await anyio.to_thread.run_sync(_reread, fd, total)
        tails.append(time.perf_counter() - last_byte)
    finally:
        os.close(fd)
    if digest != expected:
        raise SystemExit(f"{path.name}: sha256 {digest}, expected {expected}")


def _reread(fd: int, total: int) -> str:
    digest = hashlib.sha256()
    offset = 0
    while offset < total:
        data = os.pread(fd, MiB, offset)
        digest.update(data)
        offset += len(data)
    return digest.hexdigest()


async def _fetch_entry(
    sender: Sender,
    url: str,
    expected: str,
    args: argparse.Namespace,
    config: SegmentConfig,
    connections: anyio.CapacityLimiter,
    tails: list[float],
) -> None:
    await _fetch_one(
        sender,
        url,
        expected,
        Path(args.dest),
        mode=args.hash,
        config=config,
        connections=connections,
        tails=tails,
        write_on_thread=args.write == "thread",
    )


async def _child_main(args: argparse.Namespace, entries: list[list[str]]) -> list[float]:
    config = SegmentConfig(
        segment_size=args.segment_size,
        segments_per_file=args.per_file,
        max_connections=args.connections,
        write_size=args.write_size,
    )
    connections = anyio.CapacityLimiter(config.max_connections)
    tails: list[float] = []
    limits = Limits(max_connections_per_host=config.max_connections)
    async with AiohttpTransport(limits=limits) as transport:
        sender = Sender(transport, headers={"Accept-Encoding": "identity"})
        async with anyio.create_task_group() as tg:
            for url, expected in entries:
                tg.start_soon(_fetch_entry, sender, url, expected, args, config, connections, tails)
    return tails


# -- the parent


def _ours(
    mode: str, write: str, args: argparse.Namespace, log: Path
) -> Callable[[Path, Path, int], list[str]]:
    def command(urls: Path, dest: Path, jobs: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "benchmarks.segments",
            "--child",
            "--list",
            str(urls.with_suffix(".sha")),
            "--dest",
            str(dest),
            "--hash",
            mode,
            "--segment-size",
            str(args.segment_size),
            "--per-file",
            str(args.per_file),
            "--connections",
            str(args.connections),
            "--write-size",
            str(args.write_size),
            "--write",
            write,
            "--log",
            str(log),
            *(["--profile", args.profile] if args.profile else []),
        ]

    return command


def _sha_list(corpus: Corpus, www: Path, base_url: str, urls: Path) -> None:
    lines = []
    for rel in corpus.paths:
        digest = hashlib.sha256()
        source = www / "large" / rel.removeprefix("capped/")
        with open(source, "rb") as f:
            while block := f.read(MiB):
                digest.update(block)
        lines.append(f"{base_url}/{rel} {digest.hexdigest()}\n")
    urls.with_suffix(".sha").write_text("".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--count", type=int, default=2)
    parser.add_argument("--size", type=int, default=256 * MiB)
    parser.add_argument("--cap", default="32m", help="nginx limit_rate per connection")
    parser.add_argument("--segment-size", type=int, default=16 * MiB)
    parser.add_argument("--per-file", type=int, default=16, help="segments in flight per file")
    parser.add_argument("--connections", type=int, default=32, help="across all files")
    parser.add_argument(
        "--tools",
        default="segments-prefix,segments-reread,aria2c-x16",
        help="comma-separated, of segments-prefix, segments-reread, segments-prefix-loop, "
        "segments-reread-loop (pwrite on the event loop, not a thread), aria2c-x16, curl",
    )
    parser.add_argument("--write-size", type=int, default=DEFAULT_WRITE_SIZE)
    parser.add_argument("--write", choices=["thread", "loop"], help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--profile", help="write our child's cProfile stats to this file")
    # The child's own options.
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--list", help=argparse.SUPPRESS)
    parser.add_argument("--dest", help=argparse.SUPPRESS)
    parser.add_argument("--hash", choices=["prefix", "reread"], help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        entries = [line.split() for line in Path(args.list).read_text().splitlines() if line]
        if args.profile:
            import cProfile

            profile = cProfile.Profile()
            tail_times = profile.runcall(anyio.run, _child_main, args, entries)
            profile.dump_stats(args.profile)
        else:
            tail_times = anyio.run(_child_main, args, entries)
        if args.log:
            with open(args.log, "a") as out:
                out.write(
                    json.dumps({"hash": f"{args.hash}-{args.write}", "tail_s": max(tail_times)})
                    + "\n"
                )
        return 0
    if not shutil.which("nginx"):
        print("nginx is not installed: nothing to measure", file=sys.stderr)
        return 1
    stop_on_sigterm()
    wanted = args.tools.split(",")
    results: list[Result] = []
    tails: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(
        prefix="aiocircleci-bench-", dir=args.workdir or _default_workdir()
    ) as name:
        tmp = Path(name)
        www = tmp / "www"
        log = tmp / "tails.jsonl"
        tools = [
            Tool("segments-prefix", sys.executable, _ours("prefix", "thread", args, log)),
            Tool("segments-reread", sys.executable, _ours("reread", "thread", args, log)),
            Tool("segments-prefix-loop", sys.executable, _ours("prefix", "loop", args, log)),
            Tool("segments-reread-loop", sys.executable, _ours("reread", "loop", args, log)),
            Tool("aria2c-x16", "aria2c", _aria2c_segmented),
            Tool("curl", "curl", _curl),
        ]
        tools = [t for t in tools if t.name in wanted and t.available()]
        corpus = capped_corpus(build_corpus(www, "large", args.count, args.size))
        with nginx_server(www, tmp, args.cap) as base_url:
            urls = write_url_lists(corpus, base_url, tmp)
            _sha_list(corpus, www, base_url, urls)
            results = run_corpus(corpus, urls, "tmpfs", tmp, 32, args.repeat, tools)
        for line in log.read_text().splitlines() if log.exists() else []:
            entry = json.loads(line)
            tails.setdefault(entry["hash"], []).append(entry["tail_s"])
    tail_medians = {k: statistics.median(v) for k, v in tails.items()}
    if args.json:
        print(
            json.dumps(
                {
                    "cap": args.cap,
                    "segment_size": args.segment_size,
                    "per_file": args.per_file,
                    "connections": args.connections,
                    "results": [asdict(r) for r in results],
                    "hash_tail_s": tail_medians,
                    "env": {"python": sys.version.split()[0], "cpus": os.cpu_count()},
                    "child_env_bytecode": "PYTHONDONTWRITEBYTECODE" not in CHILD_ENV,
                },
                indent=2,
            )
        )
        return 0
    print(f"2 x {args.size // MiB} MiB, nginx limit_rate {args.cap} per connection, into tmpfs")
    print(f"{'tool':<17} {'wall s':>8} {'x aria2c':>9} {'cpu s':>7} {'MB/s':>8} {'RSS MiB':>8}")
    for r in results:
        ratio = f"{r.ratio_to_rival:.2f}" if r.ratio_to_rival is not None else "-"
        print(
            f"{r.tool:<17} {r.seconds:>8.3f} {ratio:>9} {r.cpu_seconds:>7.2f} "
            f"{r.mb_per_s:>8.1f} {r.peak_rss_mib:>8.1f}"
        )
    for mode, seconds in sorted(tail_medians.items()):
        print(f"sha256 after the last byte ({mode}): {seconds * 1000:.1f} ms (median)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
