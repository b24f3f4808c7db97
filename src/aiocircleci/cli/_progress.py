"""The terminal side of downloads: live progress, plain log lines, the end summary.

``ProgressDisplay`` is a downloader subscriber. On a terminal (and with rich
installed, the ``cli`` extra) it draws live bars: the whole run, then one bar per
file in flight. Anywhere else it writes one plain line per finished or failed
file, with no control codes, so logs and pipes stay clean. A command that has
more to show (the mirror's API request count and cool-down) passes ``stats``, a
callable returning one line of text, shown under the bars and in the summary.
"""

from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TextIO

from .._http import redact_url
from ..download import (
    DownloadDone,
    DownloadEvent,
    DownloadFailed,
    DownloadProgress,
    DownloadQueued,
    DownloadReport,
    DownloadSkipped,
    DownloadStarted,
)
from ._text import clean as _clean

__all__ = ["DisplayMode", "ProgressDisplay", "format_bytes", "print_summary"]

StatsLine = Callable[[], str | None]
MAX_FILE_BARS = 8


class DisplayMode(enum.Enum):
    LIVE = "live"  # rich bars, redrawn in place
    PLAIN = "plain"  # one line per file, no control codes
    QUIET = "quiet"  # nothing until the summary


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover - the loop always returns


def _rich_available() -> bool:
    try:
        import rich  # noqa: F401
    except ImportError:
        return False
    return True


def choose_mode(stream: TextIO, *, quiet: bool) -> DisplayMode:
    """Live bars on a terminal with rich, plain lines elsewhere, nothing when quiet."""
    if quiet:
        return DisplayMode.QUIET
    if stream.isatty() and _rich_available():
        return DisplayMode.LIVE
    return DisplayMode.PLAIN


class ProgressDisplay:
    """Shows downloader events; use it as a context manager around the run.

    ::

        with ProgressDisplay(sys.stderr, quiet=args.quiet) as display:
            async with Downloader(dest, subscribers=[display]) as dl: ...
        print_summary(dl.report, sys.stderr, stats=display.stats)
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        quiet: bool = False,
        mode: DisplayMode | None = None,
        stats: StatsLine | None = None,
        verbose: bool = False,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        # Off a terminal, a line per skipped file would flood the log of every
        # incremental run; the summary counts them, and -v lists them.
        self.verbose = verbose
        self.mode = mode if mode is not None else choose_mode(self.stream, quiet=quiet)
        self.stats = stats
        self.queued = 0
        self.finished = 0
        self.bytes = 0
        self._live: Any = None
        self._progress: Any = None
        self._overall: Any = None
        self._tasks: dict[str, Any] = {}

    @property
    def subscribers(self) -> list[ProgressDisplay]:
        """``[self]`` when it shows anything, else ``[]``: a quiet run builds no events."""
        return [] if self.mode is DisplayMode.QUIET else [self]

    def __enter__(self) -> Self:
        if self.mode is DisplayMode.LIVE:
            self._start_live()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def _start_live(self) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.text import Text

        console = Console(file=self.stream)
        self._progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            auto_refresh=False,
        )
        self._overall = self._progress.add_task("files 0/0", total=None)
        stats = self.stats

        class _Screen:
            def __rich__(inner) -> Group:  # noqa: N805 - rich's protocol
                parts: list[Any] = [self._progress]
                line = stats() if stats is not None else None
                if line:
                    parts.append(Text(line, style="dim"))
                return Group(*parts)

        self._live = Live(_Screen(), console=console, refresh_per_second=8, transient=False)
        self._live.start()

    def __call__(self, event: DownloadEvent) -> None:
        if isinstance(event, DownloadProgress):
            self.bytes += event.delta
            if self._progress is not None:
                task = self._tasks.get(event.path)
                if task is not None:
                    self._progress.advance(task, event.delta)
                self._progress.advance(self._overall, event.delta)
            return
        if isinstance(event, DownloadQueued):
            self.queued += 1
            self._describe()
        elif isinstance(event, DownloadStarted):
            if self._progress is not None:
                if event.total is not None:
                    overall = self._progress.tasks[self._overall]
                    self._progress.update(self._overall, total=(overall.total or 0) + event.total)
                self._progress.advance(self._overall, event.offset)
                if len(self._tasks) < MAX_FILE_BARS:
                    self._tasks[event.path] = self._progress.add_task(
                        _short(event.path), total=event.total, completed=event.offset
                    )
        else:
            self.finished += 1
            result = event.result
            if self._progress is not None:
                task = self._tasks.pop(result.path, None)
                if task is not None:
                    self._progress.remove_task(task)
                if isinstance(event, DownloadFailed):
                    # Server text: control characters escaped, and never read as markup.
                    from rich.text import Text

                    line = _clean(f"{result.path}: {result.reason}")
                    self._progress.console.print(Text.assemble(("failed ", "red"), line))
                self._describe()
            elif self.mode is DisplayMode.PLAIN:
                self._plain(event)

    def _describe(self) -> None:
        if self._progress is not None:
            self._progress.update(self._overall, description=f"files {self.finished}/{self.queued}")

    def _plain(self, event: DownloadDone | DownloadSkipped | DownloadFailed) -> None:
        result = event.result
        if isinstance(event, DownloadDone):
            line = f"done {result.path} ({format_bytes(result.size)})"
        elif isinstance(event, DownloadSkipped):
            if not self.verbose:
                return
            line = f"skipped {result.path} (already complete)"
        else:
            line = f"failed {result.path or result.request.path}: {result.reason}"
        self.stream.write(_clean(line) + "\n")


def _short(path: str, width: int = 40) -> str:
    return path if len(path) <= width else "…" + path[-(width - 1) :]


def print_summary(
    report: DownloadReport, stream: TextIO | None = None, *, stats: StatsLine | None = None
) -> None:
    """The end-of-run summary: counts, bytes, speed, then every failure."""
    out = stream if stream is not None else sys.stderr
    rate = report.bytes / report.seconds if report.seconds > 0 else 0.0
    rows = [
        ("done", str(report.files_done)),
        ("skipped", str(report.files_skipped)),
        ("failed", str(report.files_failed)),
        ("received", format_bytes(report.bytes)),
        ("time", f"{report.seconds:.2f} s ({format_bytes(rate)}/s)"),
    ]
    line = stats() if stats is not None else None
    if line:
        rows.append(("api", line))
    if report.processes_lost:
        rows.append(
            (
                "workers",
                f"{report.processes_lost} worker process(es) died; "
                "this process downloaded their files",
            )
        )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        out.write(f"{name:<{width}}  {value}\n")
    if report.failed:
        out.write("failed files:\n")
        for result in report.failed:
            where = result.path or result.request.path
            url = redact_url(result.request.url)
            out.write(_clean(f"  {where}  {url}: {result.reason}") + "\n")
    out.flush()
