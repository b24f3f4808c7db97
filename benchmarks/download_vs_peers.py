"""``aiocircleci download`` against curl, wget and aria2c on a local static server.

Run as ``python -m benchmarks.download_vs_peers [--json]``. It builds the corpora
(by default 2,000 and 20,000 files of 16 KiB, and 2 files of 256 MiB), serves them
from 127.0.0.1 (nginx with its own config in a temporary directory when installed,
else an aiohttp static server) and downloads each corpus with every tool that is
installed, each into a fresh directory. The ``capped`` corpus is the same two
256 MiB files served with nginx's ``limit_rate`` per connection, the way object
stores cap a single stream.

Tools run in alternating order (round 1: A B C, round 2: B C A, ...), so a burst
of load from elsewhere on the machine does not land on one tool's runs only.
Reported per tool: the median wall time and CPU time (user + sys, from
``wait4``), files/s, MB/s, the peak RSS of the tool's process tree, and the wall
time as a ratio to curl's and to the corpus's rival (``aria2c -x16 -s16`` for the
capped corpus, curl for the others). Every download is checked (file count and
bytes) before its figures count. Downloads go into tmpfs by default, so a slow
disk does not hide the tools' own cost; ``--out tmpfs,disk`` also measures disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aiocircleci._lock import LOCK_NAME

KiB = 1024
MiB = 1024 * KiB

CORPORA = ("small", "many", "large", "capped")
TMPFS = Path("/dev/shm")


@dataclass(frozen=True)
class Corpus:
    name: str
    count: int
    size: int
    paths: tuple[str, ...]  # relative URL paths
    rival: str = "curl"  # the tool whose wall time the target is set against

    @property
    def total_bytes(self) -> int:
        return self.count * self.size


@dataclass
class Sample:
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    tree_rss_mib: float
    tree_pss_mib: float


@dataclass
class Result:
    corpus: str
    out: str
    tool: str
    seconds: float
    cpu_seconds: float
    cpu_ms_per_file: float
    files_per_s: float
    mb_per_s: float
    peak_rss_mib: float
    tree_rss_mib: float
    tree_pss_mib: float
    rival: str
    ratio_to_curl: float | None = None
    ratio_to_rival: float | None = None
    runs: int = 1
    samples: list[float] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_corpus(root: Path, name: str, count: int, size: int) -> Corpus:
    """``count`` files of ``size`` random bytes under ``root/name``."""
    paths = []
    block = os.urandom(MiB)
    dirs = max(20, count // 1000)
    for i in range(count):
        rel = f"{name}/d{i % dirs:02d}/f{i:05d}.bin"
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            if size <= MiB:
                f.write(os.urandom(size))
            else:
                f.write(i.to_bytes(8, "big"))
                remaining = size - 8
                while remaining > 0:
                    n = min(remaining, MiB)
                    f.write(block[:n])
                    remaining -= n
        paths.append(rel)
    for dirpath, _, _ in os.walk(root):
        os.chmod(dirpath, 0o755)
    return Corpus(name, count, size, tuple(paths))


def capped_corpus(large: Corpus) -> Corpus:
    """The large corpus again, under ``/capped/``, where the server limits each connection."""
    paths = tuple("capped/" + p.removeprefix("large/") for p in large.paths)
    return Corpus("capped", large.count, large.size, paths, rival="aria2c-x16")


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no server on port {port}")


# ``master_process off`` keeps nginx in one process that never changes user, so it
# runs as whoever runs the benchmark, with no system service involved.
_NGINX_CONF = """\
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /capped/ {{
            alias {root}/large/;
            limit_rate {cap};
        }}
    }}
}}
"""


@contextmanager
def nginx_server(root: Path, tmp: Path, cap: str) -> Iterator[str]:
    port = _free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(tmp=tmp, port=port, root=root, cap=cap))
    proc = subprocess.Popen(
        ["nginx", "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@contextmanager
def python_server(root: Path, tmp: Path, cap: str) -> Iterator[str]:
    """An aiohttp.web static file server in a child process (when nginx is missing).

    The emulator serves its own generated world rather than a directory, so the
    fallback is aiohttp's static handler; expect every tool to be server-bound.
    It cannot cap a connection's rate, so the capped corpus is skipped with it.
    """
    port = _free_port()
    code = (
        "import sys; from aiohttp import web; app = web.Application(); "
        f"app.router.add_static('/', {str(root)!r}); "
        f"web.run_app(app, host='127.0.0.1', port={port}, print=None, access_log=None)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        _wait_for_port(port, timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- the tools


@dataclass(frozen=True)
class Tool:
    name: str
    binary: str
    command: Callable[[Path, Path, int], list[str]]  # (url list, dest, jobs) -> argv
    corpora: frozenset[str] = frozenset(CORPORA)

    def available(self) -> bool:
        return shutil.which(self.binary) is not None


def _aiocircleci(urls: Path, dest: Path, jobs: int, *extra: str) -> list[str]:
    """The CLI as a user runs it: by default one process per usable CPU."""
    return [
        sys.executable,
        "-m",
        "aiocircleci",
        "-q",
        "download",
        "-i",
        str(urls),
        "--dest",
        str(dest),
        "-j",
        str(jobs),
        *extra,
    ]


def _aiocircleci_one_process(urls: Path, dest: Path, jobs: int) -> list[str]:
    """``--processes 1``: everything on one event loop, as before issue 12."""
    return _aiocircleci(urls, dest, jobs, "--processes", "1")


def _curl(urls: Path, dest: Path, jobs: int) -> list[str]:
    config = urls.with_suffix(".curl")
    return [
        "curl",
        "--parallel",
        "--parallel-max",
        str(jobs),
        "-s",
        "-f",
        "--create-dirs",
        "--output-dir",
        str(dest),
        "-K",
        str(config),
    ]


def _wget(urls: Path, dest: Path, jobs: int) -> list[str]:
    return ["wget", "-q", "-x", "-nH", "-i", str(urls), "-P", str(dest)]


def _aria2c_args(urls: Path, dest: Path, jobs: int) -> list[str]:
    return [
        "aria2c",
        "-q",
        "-j",
        str(jobs),
        "-i",
        str(urls.with_suffix(".aria2")),
        "-d",
        str(dest),
        "--auto-file-renaming=false",
        "--allow-overwrite=true",
    ]


def _aria2c_segmented(urls: Path, dest: Path, jobs: int) -> list[str]:
    return [*_aria2c_args(urls, dest, jobs), "-x16", "-s16"]


TOOLS = (
    Tool("aiocircleci", sys.executable, _aiocircleci),
    Tool("aiocircleci-1p", sys.executable, _aiocircleci_one_process),
    Tool("curl", "curl", _curl),
    Tool("wget", "wget", _wget),
    Tool("aria2c", "aria2c", _aria2c_args),
    Tool("aria2c-x16", "aria2c", _aria2c_segmented, frozenset({"large", "capped"})),
)


def write_url_lists(corpus: Corpus, base_url: str, tmp: Path) -> Path:
    urls = tmp / f"{corpus.name}.txt"
    urls.write_text("".join(f"{base_url}/{p}\n" for p in corpus.paths))
    urls.with_suffix(".curl").write_text(
        "".join(f'url = "{base_url}/{p}"\noutput = "{p}"\n' for p in corpus.paths)
    )
    urls.with_suffix(".aria2").write_text(
        "".join(f"{base_url}/{p}\n  out={p}\n" for p in corpus.paths)
    )
    return urls


# Children may cache bytecode, as an installed package does: without the cache a
# Python tool compiles its modules at every start (0.2 s of CPU for this one).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def warm_up() -> None:
    """Start the CLI once, so its modules' bytecode is cached before anything is timed."""
    subprocess.run(
        [sys.executable, "-m", "aiocircleci", "download", "--help"],
        env=CHILD_ENV,
        stdout=subprocess.DEVNULL,
        check=True,
    )


GNU_TIME = "/usr/bin/time"


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TREE_INTERVAL = 0.02


def _tree_memory(root: int, *, with_root: bool) -> tuple[int, int]:
    """Bytes resident (RSS, PSS) in the descendants of ``root`` (and ``root``), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    rss = pss = 0
    todo = [root] if with_root else list(parents.get(root, ()))
    while todo:
        pid = todo.pop()
        todo += parents.get(pid, ())
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                rss += int(f.read().split()[1]) * _PAGE
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return rss, pss


class TreeSampler:
    """Peaks of the summed RSS and PSS of a process tree, sampled every 20 ms on a thread.

    Summed RSS counts pages the processes share (the interpreter, libraries)
    once per process: an upper bound of the tree's memory. PSS splits each
    shared page between the processes that map it: the tree's own share. A
    peak shorter than the interval can be missed.
    """

    def __init__(self, root: int, *, with_root: bool) -> None:
        self.root = root
        self.with_root = with_root
        self.peak = 0
        self.peak_pss = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(TREE_INTERVAL):
            rss, pss = _tree_memory(self.root, with_root=self.with_root)
            self.peak = max(self.peak, rss)
            self.peak_pss = max(self.peak_pss, pss)

    def __enter__(self) -> TreeSampler:
        if os.path.isdir("/proc"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


def _measure(argv: list[str]) -> Sample:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one child process tree.

    CPU time comes from ``wait4``: the child's own plus that of the children it
    waited for. The peak RSS comes from GNU time when installed: the largest
    peak of any one process of the tree (``ru_maxrss`` is a maximum, not a
    sum). ``ru_maxrss`` from our own ``wait4`` would not do: a forked child
    counts the pages it shared with this (much larger) benchmark process before
    it exec'd, so every small tool would seem as large as the benchmark. The
    tree figure is the sampled peak of the tree's summed RSS (``TreeSampler``),
    which counts a tool's worker processes together, and of its summed PSS.
    """
    with tempfile.NamedTemporaryFile(prefix="aiocircleci-rss-") as rss_file:
        timed = os.path.exists(GNU_TIME)
        wrapped = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *argv] if timed else argv
        start = time.perf_counter()
        proc = subprocess.Popen(
            wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=CHILD_ENV
        )
        assert proc.stderr is not None
        # GNU time itself is not the tool.
        with TreeSampler(proc.pid, with_root=not timed) as tree:
            err = proc.stderr.read()  # until the child exits and closes it
        proc.stderr.close()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            text = err.decode(errors="replace").strip()[:500]
            raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {text}")
        kib = int(rss_file.read().split()[-1]) if timed else usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    return Sample(seconds, cpu, kib / 1024, tree.peak / MiB, tree.peak_pss / MiB)


def _check(dest: Path, corpus: Corpus, tool: str) -> None:
    # Our own DEST lock file is not a download.
    files = [p for p in dest.rglob("*") if p.is_file() and p.name != LOCK_NAME]
    total = sum(p.stat().st_size for p in files)
    if len(files) != corpus.count or total != corpus.total_bytes:
        raise RuntimeError(
            f"{tool}: {len(files)} files / {total} bytes, expected "
            f"{corpus.count} / {corpus.total_bytes}"
        )


def run_corpus(
    corpus: Corpus,
    urls: Path,
    out_name: str,
    out_dir: Path,
    jobs: int,
    repeat: int,
    tools: list[Tool],
) -> list[Result]:
    """``repeat`` rounds over the tools, rotating their order each round."""
    tools = [t for t in tools if corpus.name in t.corpora]
    samples: dict[str, list[Sample]] = {t.name: [] for t in tools}
    for round_ in range(repeat):
        shift = round_ % len(tools)
        for tool in tools[shift:] + tools[:shift]:
            dest = out_dir / f"out-{tool.name}"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            sample = _measure(tool.command(urls, dest, jobs))
            _check(dest, corpus, tool.name)
            shutil.rmtree(dest, ignore_errors=True)
            if out_name != "tmpfs":
                os.sync()  # the next tool must not pay for this one's writeback
            samples[tool.name].append(sample)
    results = []
    for tool in tools:
        runs = samples[tool.name]
        seconds = statistics.median(s.seconds for s in runs)
        cpu = statistics.median(s.cpu_seconds for s in runs)
        results.append(
            Result(
                corpus=corpus.name,
                out=out_name,
                tool=tool.name,
                seconds=seconds,
                cpu_seconds=cpu,
                cpu_ms_per_file=cpu * 1000 / corpus.count,
                files_per_s=corpus.count / seconds,
                mb_per_s=corpus.total_bytes / 1e6 / seconds,
                peak_rss_mib=max(s.peak_rss_mib for s in runs),
                tree_rss_mib=max(s.tree_rss_mib for s in runs),
                tree_pss_mib=max(s.tree_pss_mib for s in runs),
                rival=corpus.rival,
                runs=len(runs),
                samples=[round(s.seconds, 4) for s in runs],
            )
        )
    by_name = {r.tool: r for r in results}
    for r in results:
        if "curl" in by_name:
            r.ratio_to_curl = r.seconds / by_name["curl"].seconds
        if corpus.rival in by_name:
            r.ratio_to_rival = r.seconds / by_name[corpus.rival].seconds
    return results


def _table(results: list[Result]) -> str:
    lines = [
        f"{'corpus':<7} {'out':<6} {'tool':<17} {'wall s':>8} {'x curl':>7} {'x rival':>8} "
        f"{'cpu s':>7} {'cpu ms/f':>9} {'files/s':>9} {'MB/s':>8} {'RSS MiB':>8} "
        f"{'tree RSS':>9} {'tree PSS':>9}"
    ]
    for r in results:
        to_curl = f"{r.ratio_to_curl:.2f}" if r.ratio_to_curl is not None else "-"
        to_rival = f"{r.ratio_to_rival:.2f}" if r.ratio_to_rival is not None else "-"
        lines.append(
            f"{r.corpus:<7} {r.out:<6} {r.tool:<17} {r.seconds:>8.3f} {to_curl:>7} "
            f"{to_rival:>8} {r.cpu_seconds:>7.2f} {r.cpu_ms_per_file:>9.3f} "
            f"{r.files_per_s:>9.0f} {r.mb_per_s:>8.1f} {r.peak_rss_mib:>8.1f} "
            f"{r.tree_rss_mib:>9.1f} {r.tree_pss_mib:>9.1f}"
        )
    return "\n".join(lines)


def stop_on_sigterm() -> None:
    """Let ``kill`` unwind like Ctrl-C, so the server stops and temporary files go."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _default_workdir() -> str:
    return str(TMPFS) if TMPFS.is_dir() else tempfile.gettempdir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument(
        "--corpus",
        default=",".join(CORPORA),
        help=f"comma-separated, of {', '.join(CORPORA)} (default: all)",
    )
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--many-count", type=int, default=20000)
    parser.add_argument("--small-size", type=int, default=16 * KiB, help="for small and many")
    parser.add_argument("--large-count", type=int, default=2)
    parser.add_argument("--large-size", type=int, default=256 * MiB, help="for large and capped")
    parser.add_argument("--cap", default="32m", help="nginx limit_rate of the capped corpus")
    parser.add_argument("-j", "--jobs", type=int, default=32, help="parallelism for every tool")
    parser.add_argument("--repeat", type=int, default=3, help="rounds; the median counts")
    parser.add_argument(
        "--tools",
        default=",".join(t.name for t in TOOLS),
        help="comma-separated (aiocircleci-1p: the CLI with --processes 1)",
    )
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument(
        "--workdir",
        default=None,
        help="where corpora and tmpfs downloads live (default: /dev/shm if present)",
    )
    parser.add_argument(
        "--out",
        default="tmpfs",
        help="comma-separated: tmpfs (under --workdir), disk (under --disk-dir)",
    )
    parser.add_argument(
        "--disk-dir",
        default=tempfile.gettempdir(),
        help="where 'disk' downloads go (default: the system temp directory)",
    )
    parser.add_argument(
        "--variant",
        default=None,
        metavar="ARGS",
        help="also run 'aiocircleci+', the CLI with these extra download options "
        "(e.g. '--segment-size 4M')",
    )
    args = parser.parse_args(argv)
    stop_on_sigterm()
    warm_up()
    wanted_corpora = [c for c in CORPORA if c in args.corpus.split(",")]
    wanted = args.tools.split(",")
    tools = [t for t in TOOLS if t.name in wanted and t.available()]
    if args.variant:
        extra = shlex.split(args.variant)
        tools.insert(
            1, Tool("aiocircleci+", sys.executable, lambda u, d, j: _aiocircleci(u, d, j, *extra))
        )
    notes = [] if os.path.exists(GNU_TIME) else [f"{GNU_TIME} missing: RSS includes our fork"]
    notes += [
        f"{t.name}: {t.binary} not installed, skipped"
        for t in TOOLS
        if t.name in wanted and not t.available()
    ]
    use_nginx = args.server == "nginx" or (args.server == "auto" and bool(shutil.which("nginx")))
    if not use_nginx:
        notes.append("nginx not installed: aiohttp static server, capped corpus skipped")
        wanted_corpora = [c for c in wanted_corpora if c != "capped"]
    workdir = args.workdir or _default_workdir()
    outs = args.out.split(",")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="aiocircleci-bench-", dir=workdir) as name:
        tmp = Path(name)
        www = tmp / "www"
        corpora: list[Corpus] = []
        if "small" in wanted_corpora:
            corpora.append(build_corpus(www, "small", args.small_count, args.small_size))
        if "many" in wanted_corpora:
            corpora.append(build_corpus(www, "many", args.many_count, args.small_size))
        if {"large", "capped"} & set(wanted_corpora):
            large = build_corpus(www, "large", args.large_count, args.large_size)
            if "large" in wanted_corpora:
                corpora.append(large)
            if "capped" in wanted_corpora:
                corpora.append(capped_corpus(large))
        server = nginx_server if use_nginx else python_server
        with server(www, tmp, args.cap) as base_url:
            for corpus in corpora:
                urls = write_url_lists(corpus, base_url, tmp)
                for out in outs:
                    if out == "tmpfs":
                        out_dir = tmp
                    elif out == "disk":
                        out_dir = Path(
                            tempfile.mkdtemp(prefix="aiocircleci-out-", dir=args.disk_dir)
                        )
                    else:
                        parser.error(f"unknown --out {out!r}")
                    try:
                        results += run_corpus(
                            corpus, urls, out, out_dir, args.jobs, args.repeat, tools
                        )
                    finally:
                        if out_dir != tmp:
                            shutil.rmtree(out_dir, ignore_errors=True)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "server": "nginx" if use_nginx else "python",
        "cap": args.cap if use_nginx else None,
        "workdir": workdir,
        "disk_dir": args.disk_dir if "disk" in outs else None,
        "jobs": args.jobs,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
        "notes": notes,
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))
    else:
        print(_table(results))
        print(
            f"server={meta['server']} cap={meta['cap']} workdir={workdir} jobs={args.jobs} "
            f"median of {args.repeat} alternating rounds; load {meta['load_average'][0]:.2f}"
        )
        for note in notes:
            print(f"note: {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
