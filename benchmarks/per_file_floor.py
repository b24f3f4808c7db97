"""What one small file costs ``aiocircleci download``, against a bare aiohttp floor.

Run as ``python -m benchmarks.per_file_floor [--json]``. nginx (or, without it,
an aiohttp static server) serves N files of 16 KiB from tmpfs, and two programs
download all of them into tmpfs with 32 concurrent transfers:

* ``floor``: a bare aiohttp loop in a fresh interpreter that does what every
  downloader must do per file and nothing else: GET, sha256 of the body, write
  to ``NAME.part``, ``os.replace`` to ``NAME`` (parent directories made once);
* ``aiocircleci``: ``python -m aiocircleci -q download -i URLS --dest DIR -j 32``.

Each runs with the N-file list and with an empty list (interpreter start and
imports), in alternating order, ``--repeat`` times. The CPU time per file is
``(cpu(N) - cpu(0)) / N`` from ``wait4`` (user + sys, medians), so start-up
does not count. With ``strace`` installed, each also runs once under
``strace -c -f`` and the syscalls per file are reported the same way, with the
ones that differ most. ``--profile FILE`` counts each program's Python calls per
file under cProfile (a figure the machine's load does not move) and prints where
the CLI's time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib
import importlib.util
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.download_vs_peers import (
    CHILD_ENV,
    KiB,
    Sample,
    _check,
    _default_workdir,
    _measure,
    build_corpus,
    nginx_server,
    python_server,
    stop_on_sigterm,
    warm_up,
    write_url_lists,
)

JOBS = 32
# The CLI on uvloop: installing its policy makes anyio's asyncio backend use it.
_OURS_ON_UVLOOP = (
    "import sys, uvloop; uvloop.install(); "
    "from aiocircleci.cli import main; sys.exit(main(sys.argv[1:]))"
)


# -- the floor, run in its own interpreter: python -m benchmarks.per_file_floor --bare ...


async def bare_download(urls: list[str], dest: str, jobs: int) -> None:
    import aiohttp  # here, so the floor's start-up is aiohttp's and not ours

    made: set[str] = set()
    pending = iter(urls)

    async def worker(session: aiohttp.ClientSession) -> None:
        for url in pending:
            path = os.path.join(dest, urlsplit(url).path.lstrip("/"))
            parent = os.path.dirname(path)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            async with session.get(url) as response:
                response.raise_for_status()
                digest = hashlib.sha256()
                fd = os.open(path + ".part", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                try:
                    async for chunk in response.content.iter_any():
                        digest.update(chunk)
                        os.write(fd, chunk)
                finally:
                    os.close(fd)
            os.replace(path + ".part", path)

    connector = aiohttp.TCPConnector(limit=jobs)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(jobs)))


def _bare_main(urls_file: str, dest: str, jobs: int, loop: str) -> int:
    with open(urls_file) as f:
        urls = [line.strip() for line in f if line.strip()]
    if loop == "uvloop":
        importlib.import_module("uvloop").install()
    asyncio.run(bare_download(urls, dest, jobs))
    return 0


# -- measuring


def _floor_argv(urls: Path, dest: Path, loop: str = "asyncio") -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.per_file_floor",
        "--bare",
        str(urls),
        str(dest),
        str(JOBS),
        loop,
    ]


def _ours_argv(urls: Path, dest: Path, loop: str = "asyncio") -> list[str]:
    run = ["-c", _OURS_ON_UVLOOP] if loop == "uvloop" else ["-m", "aiocircleci"]
    return [
        sys.executable,
        *run,
        "-q",
        "download",
        "-i",
        str(urls),
        "--dest",
        str(dest),
        "-j",
        str(JOBS),
        # One event loop, as the floor: the cost of one file's path, not of spreading
        # files over processes (download_vs_peers measures that).
        "--processes",
        "1",
    ]


def _floor_uvloop(urls: Path, dest: Path) -> list[str]:
    return _floor_argv(urls, dest, "uvloop")


def _ours_uvloop(urls: Path, dest: Path) -> list[str]:
    return _ours_argv(urls, dest, "uvloop")


PROGRAMS: dict[str, Callable[[Path, Path], list[str]]] = {
    "floor": _floor_argv,
    "aiocircleci": _ours_argv,
}
UVLOOP_PROGRAMS = {"floor+uvloop": _floor_uvloop, "aiocircleci+uvloop": _ours_uvloop}


@dataclass
class Figures:
    program: str
    files: int
    wall_s: float
    cpu_s: float
    startup_cpu_s: float
    cpu_ms_per_file: float
    syscalls_per_file: float | None = None
    python_calls_per_file: float | None = None
    top_syscalls_per_file: dict[str, float] = field(default_factory=dict)
    wall_samples: list[float] = field(default_factory=list)


def _strace_counts(argv: list[str], out: Path) -> dict[str, int]:
    """Syscall name -> calls, from ``strace -c -f`` over the whole process tree."""
    subprocess.run(
        ["strace", "-c", "-f", "-o", str(out), *argv],
        check=True,
        env=CHILD_ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    counts: dict[str, int] = {}
    for line in out.read_text().splitlines():
        fields = line.split()
        if len(fields) in (5, 6) and fields[0][0].isdigit() and fields[-1] != "total":
            counts[fields[-1]] = int(fields[3])
    return counts


def _run(argv: list[str], dest: Path) -> Sample:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    return _measure(argv)


def measure(
    urls: Path, empty: Path, tmp: Path, count: int, repeat: int, use_strace: bool
) -> list[Figures]:
    full: dict[str, list[Sample]] = {name: [] for name in PROGRAMS}
    start: dict[str, list[Sample]] = {name: [] for name in PROGRAMS}
    names = list(PROGRAMS)
    for round_ in range(repeat):
        order = names if round_ % 2 == 0 else names[::-1]
        for name in order:
            dest = tmp / f"out-{name}"
            full[name].append(_run(PROGRAMS[name](urls, dest), dest))
            start[name].append(_run(PROGRAMS[name](empty, dest), dest))
    figures = []
    for name in names:
        cpu = statistics.median(s.cpu_seconds for s in full[name])
        cpu0 = statistics.median(s.cpu_seconds for s in start[name])
        figures.append(
            Figures(
                program=name,
                files=count,
                wall_s=statistics.median(s.seconds for s in full[name]),
                cpu_s=cpu,
                startup_cpu_s=cpu0,
                cpu_ms_per_file=(cpu - cpu0) * 1000 / count,
                wall_samples=[round(s.seconds, 3) for s in full[name]],
            )
        )
    if use_strace:
        per_file: dict[str, dict[str, float]] = {}
        for fig in figures:
            dest = tmp / f"out-{fig.program}"
            with_files = _strace_counts(_run_argv(fig.program, urls, dest), tmp / "strace-n.txt")
            without = _strace_counts(_run_argv(fig.program, empty, dest), tmp / "strace-0.txt")
            per_file[fig.program] = {
                name: (with_files.get(name, 0) - without.get(name, 0)) / count
                for name in set(with_files) | set(without)
            }
            fig.syscalls_per_file = sum(per_file[fig.program].values())
        ours, floor = per_file["aiocircleci"], per_file["floor"]
        excess = sorted(
            set(ours) | set(floor),
            key=lambda n: abs(ours.get(n, 0) - floor.get(n, 0)),
            reverse=True,
        )[:10]
        for fig in figures:
            fig.top_syscalls_per_file = {
                n: round(per_file[fig.program].get(n, 0), 2) for n in excess
            }
    return figures


def _run_argv(program: str, urls: Path, dest: Path) -> list[str]:
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    return PROGRAMS[program](urls, dest)


def _profiled_calls(program: str, urls: Path, dest: Path, out: Path) -> int:
    """Run one program under cProfile; return how many Python calls it made."""
    argv = _run_argv(program, urls, dest)
    module = argv[1:] if program == "floor" else ["-m", "aiocircleci", *argv[3:]]
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), *module],
        check=True,
        env=CHILD_ENV,
        stdout=subprocess.DEVNULL,
    )
    shutil.rmtree(dest, ignore_errors=True)
    calls: int = pstats.Stats(str(out)).total_calls  # type: ignore[attr-defined]
    return calls


def profile(
    figures: list[Figures], urls: Path, empty: Path, tmp: Path, out: Path, top: int = 25
) -> str:
    """Python calls per file of each program, and the CLI's cProfile (asyncio's own loop).

    Call counts do not depend on the machine's load, unlike CPU time. Returns
    the CLI's top functions by own time and by cumulative time.
    """
    scratch = tmp / "empty.prof"
    for fig in figures:
        if fig.program not in ("floor", "aiocircleci"):
            continue  # the uvloop variants are not profiled
        dest = tmp / f"out-{fig.program}"
        target = out if fig.program == "aiocircleci" else scratch
        with_files = _profiled_calls(fig.program, urls, dest, target)
        without = _profiled_calls(fig.program, empty, dest, scratch)
        fig.python_calls_per_file = (with_files - without) / fig.files
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def _table(figures: list[Figures]) -> str:
    lines = [
        f"{'program':<18} {'files':>6} {'wall s':>7} {'cpu s':>7} {'start cpu s':>12} "
        f"{'cpu ms/file':>12} {'syscalls/file':>14} {'py calls/file':>14}"
    ]
    for f in figures:
        sc = f"{f.syscalls_per_file:.1f}" if f.syscalls_per_file is not None else "-"
        pc = f"{f.python_calls_per_file:.0f}" if f.python_calls_per_file is not None else "-"
        lines.append(
            f"{f.program:<18} {f.files:>6} {f.wall_s:>7.3f} {f.cpu_s:>7.3f} "
            f"{f.startup_cpu_s:>12.3f} {f.cpu_ms_per_file:>12.3f} {sc:>14} {pc:>14}"
        )
    floor = next(f for f in figures if f.program == "floor")
    ours = next(f for f in figures if f.program == "aiocircleci")
    by_name = {f.program: f for f in figures}
    lines.append(
        f"aiocircleci / floor, CPU per file: {ours.cpu_ms_per_file / floor.cpu_ms_per_file:.2f}"
    )
    if "aiocircleci+uvloop" in by_name:
        uv_ours, uv_floor = by_name["aiocircleci+uvloop"], by_name["floor+uvloop"]
        lines.append(
            "on uvloop / on asyncio, CPU per file: "
            f"aiocircleci {uv_ours.cpu_ms_per_file / ours.cpu_ms_per_file:.2f}, "
            f"floor {uv_floor.cpu_ms_per_file / floor.cpu_ms_per_file:.2f}"
        )
    if floor.top_syscalls_per_file:
        lines.append("syscalls per file that differ most (aiocircleci / floor):")
        for name in floor.top_syscalls_per_file:
            lines.append(
                f"  {name:<16} {ours.top_syscalls_per_file[name]:>7.2f} "
                f"{floor.top_syscalls_per_file[name]:>7.2f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bare", nargs=4, metavar=("URLS", "DEST", "JOBS", "LOOP"), help=argparse.SUPPRESS
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--count", type=int, default=2000, help="files (default: 2000)")
    parser.add_argument("--size", type=int, default=16 * KiB, help="bytes per file")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts")
    parser.add_argument("--no-strace", action="store_true", help="skip the syscall counts")
    parser.add_argument("--profile", metavar="FILE", help="also write a cProfile of the CLI")
    parser.add_argument("--workdir", default=None, help="default: /dev/shm if present")
    parser.add_argument(
        "--uvloop", action="store_true", help="also run both programs on uvloop, alternating"
    )
    args = parser.parse_args(argv)
    if args.bare:
        urls_file, dest, jobs, loop = args.bare
        return _bare_main(urls_file, dest, int(jobs), loop)
    stop_on_sigterm()
    warm_up()
    if args.uvloop:
        if importlib.util.find_spec("uvloop") is None:
            parser.error("--uvloop: uvloop is not installed")
        PROGRAMS.update(UVLOOP_PROGRAMS)
    use_strace = not args.no_strace and shutil.which("strace") is not None
    notes = [] if use_strace or args.no_strace else ["strace not installed: no syscall counts"]
    use_nginx = shutil.which("nginx") is not None
    if not use_nginx:
        notes.append("nginx not installed: aiohttp static server")
    workdir = args.workdir or _default_workdir()
    with tempfile.TemporaryDirectory(prefix="aiocircleci-floor-", dir=workdir) as name:
        tmp = Path(name)
        www = tmp / "www"
        corpus = build_corpus(www, "small", args.count, args.size)
        server = nginx_server if use_nginx else python_server
        with server(www, tmp, "0") as base_url:
            urls = write_url_lists(corpus, base_url, tmp)
            empty = tmp / "empty.txt"
            empty.write_text("")
            for program in PROGRAMS:  # each one's output is checked once
                dest = tmp / f"out-{program}"
                _run(PROGRAMS[program](urls, dest), dest)
                _check(dest, corpus, program)
            figures = measure(urls, empty, tmp, args.count, args.repeat, use_strace)
            report = None
            if args.profile:
                report = profile(figures, urls, empty, tmp, Path(args.profile))
    if args.json:
        print(json.dumps({"figures": [asdict(f) for f in figures], "notes": notes}, indent=2))
    else:
        print(_table(figures))
        print(f"{args.count} files of {args.size} bytes, jobs={JOBS}, median of {args.repeat}")
        for note in notes:
            print(f"note: {note}")
    if report is not None:
        print(report, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
