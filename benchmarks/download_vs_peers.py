"""``aiocircleci download`` against curl, wget and aria2c on a local static server.

Run as ``python -m benchmarks.download_vs_peers [--json]``. It builds two
corpora (by default 2,000 files of 16 KiB, and 2 files of 256 MiB), serves them
from 127.0.0.1 (nginx with its own config in a temporary directory when
installed, else an aiohttp static server), and downloads each corpus with
every tool that is installed, each into a fresh directory. Reported per tool:
wall time, files/s, MB/s and the peak RSS of the tool's process, plus the wall
time as a ratio to curl's. Every download is checked (file count and bytes)
before its figures count.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class Corpus:
    name: str
    count: int
    size: int
    root: Path  # served directory
    paths: tuple[str, ...]  # relative URL paths

    @property
    def total_bytes(self) -> int:
        return self.count * self.size


@dataclass
class Result:
    corpus: str
    tool: str
    seconds: float
    files_per_s: float
    mb_per_s: float
    peak_rss_mib: float
    ratio_to_curl: float | None = None
    runs: int = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def build_corpus(base: Path, name: str, count: int, size: int) -> Corpus:
    root = base / "www"
    paths = []
    block = os.urandom(MiB)
    for i in range(count):
        rel = f"{name}/d{i % 20:02d}/f{i:05d}.bin"
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
    for dirpath, _, _ in os.walk(base):
        os.chmod(dirpath, 0o755)  # nginx workers may run as another user
    return Corpus(name, count, size, root, tuple(paths))


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no server on port {port}")


_NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
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
    }}
}}
"""


@contextmanager
def nginx_server(root: Path, tmp: Path) -> Iterator[str]:
    port = _free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(_NGINX_CONF.format(tmp=tmp, port=port, root=root))
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
def python_server(root: Path, tmp: Path) -> Iterator[str]:
    """An aiohttp.web static file server in a child process (when nginx is missing).

    The emulator serves its own generated world rather than a directory, so the
    fallback is aiohttp's static handler; expect every tool to be server-bound.
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
    available: Callable[[], bool]
    command: Callable[[Path, Path, int], list[str]]  # (url list, dest, jobs) -> argv


def _aiocircleci(urls: Path, dest: Path, jobs: int) -> list[str]:
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
    ]


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


def _aria2c(urls: Path, dest: Path, jobs: int) -> list[str]:
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


def _installed(name: str) -> Callable[[], bool]:
    return lambda: shutil.which(name) is not None


TOOLS = (
    Tool("aiocircleci", lambda: True, _aiocircleci),
    Tool("curl", _installed("curl"), _curl),
    Tool("wget", _installed("wget"), _wget),
    Tool("aria2c", _installed("aria2c"), _aria2c),
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


def _measure(argv: list[str]) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MiB) and exit status of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {err.strip()[:500]}")
    return seconds, usage.ru_maxrss / 1024, proc.returncode


def _check(dest: Path, corpus: Corpus, tool: str) -> None:
    files = [p for p in dest.rglob("*") if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    if len(files) != corpus.count or total != corpus.total_bytes:
        raise RuntimeError(
            f"{tool}: {len(files)} files / {total} bytes, expected "
            f"{corpus.count} / {corpus.total_bytes}"
        )


def run_corpus(
    corpus: Corpus, urls: Path, tmp: Path, jobs: int, repeat: int, tools: list[Tool]
) -> list[Result]:
    results = []
    for tool in tools:
        samples: list[tuple[float, float]] = []
        for _ in range(repeat):
            dest = tmp / f"out-{tool.name}"
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            seconds, rss, _ = _measure(tool.command(urls, dest, jobs))
            _check(dest, corpus, tool.name)
            shutil.rmtree(dest, ignore_errors=True)
            samples.append((seconds, rss))
        seconds = statistics.median(s for s, _ in samples)
        rss = max(r for _, r in samples)
        results.append(
            Result(
                corpus=corpus.name,
                tool=tool.name,
                seconds=seconds,
                files_per_s=corpus.count / seconds,
                mb_per_s=corpus.total_bytes / 1e6 / seconds,
                peak_rss_mib=rss,
                runs=repeat,
            )
        )
    curl = next((r for r in results if r.tool == "curl"), None)
    for r in results:
        r.ratio_to_curl = r.seconds / curl.seconds if curl else None
    return results


def _table(results: list[Result]) -> str:
    lines = [
        f"{'corpus':<7} {'tool':<12} {'wall s':>8} {'x curl':>7} {'files/s':>9} "
        f"{'MB/s':>8} {'RSS MiB':>8}"
    ]
    for r in results:
        ratio = f"{r.ratio_to_curl:.2f}" if r.ratio_to_curl is not None else "-"
        lines.append(
            f"{r.corpus:<7} {r.tool:<12} {r.seconds:>8.3f} {ratio:>7} {r.files_per_s:>9.0f} "
            f"{r.mb_per_s:>8.1f} {r.peak_rss_mib:>8.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print results as JSON")
    parser.add_argument("--corpus", choices=["small", "large", "both"], default="both")
    parser.add_argument("--small-count", type=int, default=2000)
    parser.add_argument("--small-size", type=int, default=16 * KiB)
    parser.add_argument("--large-count", type=int, default=2)
    parser.add_argument("--large-size", type=int, default=256 * MiB)
    parser.add_argument("-j", "--jobs", type=int, default=32, help="parallelism for every tool")
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool; the median counts")
    parser.add_argument("--tools", default="aiocircleci,curl,wget,aria2c")
    parser.add_argument("--server", choices=["auto", "nginx", "python"], default="auto")
    parser.add_argument(
        "--workdir",
        default=None,
        help="where corpora and downloads live (default: the system temp directory)",
    )
    args = parser.parse_args(argv)
    wanted = set(args.tools.split(","))
    tools = [t for t in TOOLS if t.name in wanted and t.available()]
    skipped = sorted(wanted - {t.name for t in tools})
    use_nginx = args.server == "nginx" or (args.server == "auto" and shutil.which("nginx"))
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="aiocircleci-bench-", dir=args.workdir) as name:
        tmp = Path(name)
        corpora = []
        if args.corpus in ("small", "both"):
            corpora.append(build_corpus(tmp, "small", args.small_count, args.small_size))
        if args.corpus in ("large", "both"):
            corpora.append(build_corpus(tmp, "large", args.large_count, args.large_size))
        server = nginx_server if use_nginx else python_server
        with server(tmp / "www", tmp) as base_url:
            for corpus in corpora:
                urls = write_url_lists(corpus, base_url, tmp)
                results += run_corpus(corpus, urls, tmp, args.jobs, args.repeat, tools)
    meta = {
        "server": "nginx" if use_nginx else "python",
        "workdir": args.workdir or tempfile.gettempdir(),
        "jobs": args.jobs,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "skipped_tools": skipped,
    }
    if args.json:
        print(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))
    else:
        print(_table(results))
        print(
            f"server={meta['server']} workdir={meta['workdir']} jobs={args.jobs} "
            f"median of {args.repeat} runs"
            + (f"; not installed: {', '.join(skipped)}" if skipped else "")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
