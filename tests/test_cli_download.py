"""``aiocircleci download`` run as a user runs it: a subprocess against the emulator."""

from __future__ import annotations

import hashlib
import io
import os
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiocircleci._paths import safe_relpath
from aiocircleci.cli._download import request_for_url
from aiocircleci.cli._progress import DisplayMode, ProgressDisplay, print_summary
from aiocircleci.download import (
    DownloadDone,
    DownloadFailed,
    DownloadProgress,
    DownloadQueued,
    DownloadReport,
    DownloadRequest,
    DownloadSkipped,
    DownloadStarted,
    FileResult,
    FileStatus,
)
from aiocircleci.errors import DownloadError
from aiocircleci.testing import FakeCircleCI, WorldConfig

WORLD = WorldConfig(
    projects=1,
    pipelines_per_project=1,
    workflows_per_pipeline=1,
    jobs_per_workflow=2,
    artifacts_per_job=3,
    quirks=False,
)


async def _cli(fake: FakeCircleCI, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "CIRCLECI_BASE_URL": fake.base_url,
        "CIRCLE_TOKEN": fake.token,
    }
    argv = [sys.executable, "-m", "aiocircleci", "download", *args]
    done = await anyio.run_process(argv, input=stdin, env=env, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


@pytest.mark.anyio
async def test_url_list_downloads_named_by_url_path_with_token_only_at_artifact_host(
    tmp_path: Path,
) -> None:
    async with FakeCircleCI(seed=11, config=WORLD) as fake:
        artifacts = list(fake.world.iter_artifacts())
        listing = "".join(f"{a.url}\n" for a in artifacts).encode()
        code, out, err = await _cli(
            fake,
            "-i",
            "-",
            "--dest",
            str(tmp_path),
            "--artifact-host",
            fake.artifact_origin,
            stdin=listing,
        )
        storage = fake.storage_requests
    assert code == 0, err
    for artifact in artifacts:
        # Named by the URL's path, so two jobs' same-named artifacts both survive.
        rel = safe_relpath(unquote(urlsplit(artifact.url).path))
        data = (tmp_path / rel).read_bytes()
        assert hashlib.sha256(data).hexdigest() == artifact.sha256
    assert storage
    assert not any(k.lower() == "circle-token" for r in storage for k, _ in r.headers)
    assert "done" in err
    assert f"{len(artifacts)}" in err
    assert "\x1b" not in err  # off a terminal: plain lines, no control codes


@pytest.mark.anyio
async def test_failed_urls_are_listed_and_the_exit_code_is_1(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=12, config=WORLD) as fake:
        good = next(iter(fake.world.iter_artifacts())).url
        missing = f"{fake.artifact_origin}/output/job/nope/artifacts/0/missing.txt"
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{good}\n\n# a comment\n{missing}\nftp://example.invalid/x\n")
        code, _, err = await _cli(
            fake,
            "-q",
            "-i",
            str(urls),
            "--dest",
            str(tmp_path / "out"),
            "--artifact-host",
            fake.artifact_origin,
        )
    assert code == 1
    assert "missing.txt" in err
    assert "ftp://example.invalid/x" in err
    assert "Traceback" not in err


@pytest.mark.anyio
async def test_second_run_skips_what_is_complete(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=13, config=WORLD, private=False) as fake:
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{a.url}\n" for a in fake.world.iter_artifacts()))
        dest = str(tmp_path / "out")
        first = await _cli(fake, "-q", "-i", str(urls), "--dest", dest)
        fake.clear_requests()
        code, _, err = await _cli(fake, "-i", str(urls), "--dest", dest, "--json")
        requests = len(fake.requests)
    assert first[0] == code == 0
    assert requests == 0
    assert err == ""


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-i", "/nonexistent/urls.txt", "--dest", "{tmp}/out"], "cannot read"),
        (["-i", "-", "--dest", "{tmp}/blocker"], "not a directory"),
        (["-i", "-", "--dest", "{tmp}/blocker/below"], "cannot"),
        (["-i", "-", "--dest", "{tmp}/out", "-j", "0"], "-j"),
    ],
)
async def test_usage_and_disk_problems_are_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    (tmp_path / "blocker").write_text("a file where a directory should be")
    async with FakeCircleCI(seed=14, config=WORLD) as fake:
        url = next(iter(fake.world.iter_artifacts())).url
        argv = [a.format(tmp=tmp_path) for a in args]
        code, out, err = await _cli(fake, *argv, stdin=f"{url}\n".encode())
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def _result(path: str, status: FileStatus, error: DownloadError | None = None) -> FileResult:
    request = DownloadRequest(f"https://host/{path}?X-Signature=secret", path)
    return FileResult(request=request, status=status, path=path, size=10, error=error)


def test_plain_display_writes_one_clean_line_per_finished_file() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream, mode=DisplayMode.PLAIN)
    request = DownloadRequest("https://host/a", "a")
    with display:
        display(DownloadQueued(request))
        display(DownloadStarted(request, "a", 10, 0))
        display(DownloadProgress(request, "a", 10))
        display(DownloadDone(_result("a", FileStatus.DONE)))
        error = DownloadError("bad \x1b[2Jthing")
        display(DownloadFailed(_result("b\x07", FileStatus.FAILED, error)))
    lines = stream.getvalue().splitlines()
    # Control characters print as visible escapes, never as themselves.
    assert lines == ["done a (10 B)", "failed b\\x07: bad \\x1b[2Jthing"]
    assert display.bytes == 10


@pytest.mark.parametrize("mode", list(DisplayMode))
def test_only_a_display_that_shows_something_subscribes_to_events(mode: DisplayMode) -> None:
    display = ProgressDisplay(io.StringIO(), mode=mode)
    # -q draws nothing: the downloader then builds no event per file at all.
    assert display.subscribers == ([] if mode is DisplayMode.QUIET else [display])


@pytest.mark.parametrize("verbose", [False, True])
def test_plain_display_lists_skipped_files_only_when_verbose(verbose: bool) -> None:
    stream = io.StringIO()
    with ProgressDisplay(stream, mode=DisplayMode.PLAIN, verbose=verbose) as display:
        for name in ("x", "y"):
            display(DownloadSkipped(_result(name, FileStatus.SKIPPED)))
        display(DownloadDone(_result("z", FileStatus.DONE)))
    skipped = ["skipped x (already complete)", "skipped y (already complete)"]
    assert stream.getvalue().splitlines() == [*(skipped if verbose else []), "done z (10 B)"]


def test_summary_lists_failures_and_an_extra_stats_line() -> None:
    report = DownloadReport(files_done=3, bytes=3_000_000, seconds=1.5)
    report.failed.append(_result("x/y.txt", FileStatus.FAILED, DownloadError("HTTP 404")))
    stream = io.StringIO()
    print_summary(report, stream, stats=lambda: "120 requests, cool-down 0 s")
    text = stream.getvalue()
    assert "done      3" in text
    assert "api       120 requests, cool-down 0 s" in text
    assert "x/y.txt" in text
    assert "HTTP 404" in text
    assert "https://host/x/y.txt?…" in text  # signatures in a query never reach the terminal


def test_live_display_draws_bars_when_rich_is_there() -> None:
    pytest.importorskip("rich")
    stream = io.StringIO()
    request = DownloadRequest("https://host/a", "a")
    with ProgressDisplay(stream, mode=DisplayMode.LIVE, stats=lambda: "api: 5 requests") as d:
        d(DownloadQueued(request))
        d(DownloadStarted(request, "a", 100, 0))
        d(DownloadProgress(request, "a", 100))
        d(DownloadDone(_result("a", FileStatus.DONE)))
    assert "files 1/1" in stream.getvalue()
    assert "api: 5 requests" in stream.getvalue()


@pytest.mark.anyio
async def test_each_bad_line_fails_alone_and_the_good_files_arrive(tmp_path: Path) -> None:
    async with FakeCircleCI(seed=15, config=WORLD) as fake:
        artifacts = list(fake.world.iter_artifacts())
        bad = [
            "http://127.0.0.1:99999/output/job/x/artifacts/0/port.txt",
            "https://[::1/broken-bracket.txt",
            "not a url at all",
        ]
        lines = [artifacts[0].url, *bad, *(a.url for a in artifacts[1:])]
        urls = tmp_path / "urls.txt"
        urls.write_text("".join(f"{line}\n" for line in lines))
        dest = tmp_path / "out"
        hosts = ("--artifact-host", fake.artifact_origin)
        code, _, err = await _cli(fake, "-q", "-i", str(urls), "--dest", str(dest), *hosts)
    assert code == 1, err
    assert "Traceback" not in err
    for line in bad:
        assert line in err
    for artifact in artifacts:
        rel = safe_relpath(unquote(urlsplit(artifact.url).path))
        assert hashlib.sha256((dest / rel).read_bytes()).hexdigest() == artifact.sha256


def _by_urlsplit(url: str) -> str:
    """The target path as a full parse of the URL gives it (or ``ValueError``)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("not an http(s) URL")
    return unquote(parts.path)


@settings(max_examples=500)
@given(
    scheme=st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "http:/", ""]),
    host=st.text(alphabet="aZ09.-_@[]:", max_size=8),
    port=st.sampled_from(["", ":", ":0", ":80", ":65535", ":65536", ":99999", ":123456", ":x"]),
    path=st.text(alphabet="/a%2F20é .\t\n?#&=~", max_size=12),
)
def test_a_listed_url_names_the_same_file_as_a_full_parse_would(
    scheme: str, host: str, port: str, path: str
) -> None:
    url = f"{scheme}{host}{port}{path}"
    try:
        expected = _by_urlsplit(url)
    except ValueError:
        with pytest.raises(ValueError, match="URL"):
            request_for_url(url)
        return
    assert request_for_url(url) == DownloadRequest(url, expected)
