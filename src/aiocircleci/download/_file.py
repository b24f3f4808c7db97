"""One file's download: the per-file loop on top of ``PartFile`` and ``classify_response``.

``FileDownload.run`` checks what stands at the final name, adopts a ``.part``
a dead run left, then asks, streams and retries until the file is published
or has failed. Retries follow the one retry decision (``_retry.decide``);
requests go through the one send path (``Sender.open``), to which this adds
only ``Range`` / ``If-Range``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

import anyio

from .._http import Request, StreamResponse, redact_url
from .._segments import RangeNotHonoured, SegmentURLExpired
from .._send import GetRetries
from ..errors import (
    APIError,
    ChecksumMismatch,
    CircleCIError,
    DownloadError,
    IncompleteDownload,
    TokenNotSent,
    TransportError,
    error_for_status,
)
from ._classify import Complete, Fail, Restart, Resume, classify_response
from ._partfile import PartFile
from ._segmented import fetch_segmented
from ._values import DownloadProgress, DownloadRequest, DownloadStarted, FileResult, FileStatus

if TYPE_CHECKING:
    from ._downloader import Downloader

__all__ = ["CLOSE_TIMEOUT", "MAX_REFETCHES", "FileDownload"]

# How often an expired pre-signed URL is fetched anew through the artifact URL.
MAX_REFETCHES: Final = 3
# Cleanup after a cancellation gets this long (seconds) to close files.
CLOSE_TIMEOUT: Final = 5.0


class _Restart(Exception):
    """What is on disk is no good: ask again from byte 0."""


class _Expired(Exception):
    """The pre-signed storage URL answered 403: fetch a new one via the artifact URL."""


def _validator(headers: Mapping[str, str]) -> str | None:
    """What ``If-Range`` sends back: a strong ETag, else Last-Modified."""
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return headers.get("Last-Modified") or None


class FileDownload:
    """The state of one file while it downloads: its ``PartFile``, received offset, attempts."""

    __slots__ = (
        "attempts",
        "dl",
        "offset",
        "part",
        "pending",
        "rel",
        "request",
        "segmented",
        "shown",
        "started",
        "url",
    )

    def __init__(self, dl: Downloader, request: DownloadRequest, rel: str) -> None:
        self.dl = dl
        self.request = request
        self.rel = rel
        self.part: PartFile | None = None
        self.offset = 0  # bytes of the file received (some may still be buffered)
        self.pending: asyncio.Future[None] | None = None
        self.attempts = 0
        self.started = False
        self.url = request.url  # the URL that answered last (a 429 cools its origin)
        # False once the server answered a range with the whole body: one stream then.
        self.segmented = dl._segments is not None
        # Bytes the progress events of segmented fetches have counted so far.
        self.shown = 0

    def __repr__(self) -> str:
        return f"<FileDownload {self.rel!r} offset={self.offset} attempts={self.attempts}>"

    def failed(self, error: CircleCIError) -> FileResult:
        return FileResult(
            request=self.request,
            status=FileStatus.FAILED,
            path=self.rel,
            size=self.offset,
            attempts=self.attempts,
            error=error,
        )

    def _progress(self, delta: int) -> None:
        if delta and self.dl._subscribers:
            self.dl._emit(DownloadProgress(self.request, self.rel, delta))

    async def run(self) -> FileResult:
        dl = self.dl
        assert dl._root is not None
        # Directory walks and a few stat calls: cheaper on the loop than a thread hop.
        part = PartFile(dl._root, self.rel, run_id=dl.run_id, opener=dl._opener)
        with part:
            self.part = part
            try:
                size = part.existing_size()
                if size is not None and not dl._overwrite:
                    skipped = await self._check_existing(part, size)
                    if skipped is not None:
                        return skipped
                if part.has_meta():
                    # A .part from an earlier run, with the validator it was fetched under.
                    await dl._thread(part.adopt)
                    self.offset = part.offset
                return await self._fetch_with_retries()
            finally:
                if self.pending is not None:  # a shielded scope costs ~30 calls: only when needed
                    with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                        await self._settle()

    async def _check_existing(self, part: PartFile, size: int) -> FileResult | None:
        request = self.request
        if request.size is not None and request.size != size:
            return None
        sha: str | None = None
        if request.sha256 is not None:
            sha = await self.dl._thread(part.existing_sha256)
            if sha != request.sha256.lower():
                return None
        return FileResult(
            request=request, status=FileStatus.SKIPPED, path=self.rel, size=size, sha256=sha
        )

    async def _settle(self) -> None:
        """Wait for a write still running (a descriptor is never closed under it)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            try:
                with anyio.CancelScope(shield=True):
                    await pending
            except OSError:
                pass

    async def _restart(self) -> None:
        """Throw away what is on disk and start the file from byte 0."""
        assert self.part is not None
        await self._settle()
        await self.dl._thread(self.part.discard)
        self._progress(-(self.offset + self.shown))
        self.offset = 0
        self.shown = 0

    async def _fetch_with_retries(self) -> FileResult:
        dl, request = self.dl, self.request
        policy = dl._retry
        retries = GetRetries(
            dl._sender,
            policy,
            rng=dl._rng,
            clock=dl._clock,
            wall_clock=dl._wall_clock,
            sleep=dl._sleep,
        )
        refetches = 0
        while True:
            self.attempts += 1
            try:
                return await self._fetch()
            except (_Expired, SegmentURLExpired):
                # Segments already on disk stay done (the part's record): only the rest follows.
                refetches += 1
                if refetches > MAX_REFETCHES:
                    return self.failed(
                        DownloadError(
                            "the signed storage URL kept answering 403 (expired)",
                            url=redact_url(request.url),
                            path=self.rel,
                        )
                    )
                continue
            except RangeNotHonoured:
                # The server ignores ranges (or the file changed): one stream from byte 0.
                self.segmented = False
                await self._restart()
                continue
            except _Restart:
                await self._restart()
                retries.failures += 1
                if retries.failures >= policy.max_attempts:
                    return self.failed(
                        IncompleteDownload(
                            "the server ignored the range request", url=redact_url(request.url)
                        )
                    )
                continue
            except ChecksumMismatch as exc:
                resumed = self.offset > 0 and retries.failures == 0
                await self._restart()
                if not resumed:
                    return self.failed(exc)
                retries.failures += 1
                if retries.failures >= policy.max_attempts:
                    return self.failed(exc)
                continue
            except (TransportError, IncompleteDownload, APIError) as exc:
                if not await retries.again(exc, self.url):
                    return self.failed(exc)

    async def _fetch(self) -> FileResult:
        assert self.part is not None
        headers: dict[str, str] = {}
        if self.offset > 0:
            headers["Range"] = f"bytes={self.offset}-"
            if self.part.validator:
                headers["If-Range"] = self.part.validator
        self.url = self.request.url
        request = Request("GET", self.request.url, headers=headers)
        async with self.dl._sender.open(request) as exchange:
            resp = exchange.response
            self.url = resp.url
            if resp.status == 403 and exchange.redirects > 0:
                raise _Expired
            if resp.status == 401 and exchange.token_withheld:
                raise TokenNotSent(redact_url(resp.url, origin_only=True), url=redact_url(resp.url))
            signed = exchange.redirects > 0
            if not self._segments_apply(resp):
                return await self._receive(resp, resp.url)
            total = int(resp.headers["Content-Length"])
            validator = _validator(resp.headers)
            if not self.dl._limit_hosts:
                # This body serves the first segment; the rest comes as ranges.
                return await self._segmented(resp.url, total, validator, signed, first=resp)
            # This exchange holds a slot of its host until it ends, and the
            # ranges need slots of that host: it ends unread.
            resp.close()
        return await self._segmented(resp.url, total, validator, signed)

    def _segments_apply(self, resp: StreamResponse) -> bool:
        """A fresh 200 that offers ranges, of a length above the threshold."""
        config = self.dl._segments
        if config is None or not self.segmented or self.offset > 0 or resp.status != 200:
            return False
        length = resp.headers.get("Content-Length")
        if length is None or not length.isdigit():
            return False
        total = int(length)
        if self.request.size is not None and total != self.request.size:
            return False  # the one-stream path reports it
        return config.applies(total, accept_ranges=resp.headers.get("Accept-Ranges"))

    async def _segmented(
        self,
        url: str,
        total: int,
        validator: str | None,
        signed: bool,
        *,
        first: StreamResponse | None = None,
    ) -> FileResult:
        """Fetch the file as ranges (``fetch_segmented``), then verify and publish."""
        assert self.part is not None
        await fetch_segmented(self, url, total, validator, signed=signed, first=first)
        self.offset = total
        self._verify(total)
        await self.dl._thread(self.part.publish)
        return self._done()

    async def _receive(self, resp: StreamResponse, url: str) -> FileResult:
        dl, request, part = self.dl, self.request, self.part
        assert part is not None
        status = resp.status
        if part.segments is not None:
            # A segmented .part (holes between segments) is no prefix to resume as one stream.
            await self._restart()
        verdict = classify_response(status, resp.headers, self.offset)
        if isinstance(verdict, Complete):
            return await self._complete(verdict.total)
        if isinstance(verdict, Fail):
            if 200 <= status < 300:
                # A defective header: this file fails, the run goes on.
                defect = IncompleteDownload if verdict.retry else DownloadError
                raise defect(verdict.reason, url=redact_url(url), path=self.rel)
            error_class = error_for_status(status) if status >= 400 else APIError
            raise error_class(
                status,
                resp.reason or f"HTTP {status}",
                method="GET",
                url=redact_url(url),
                headers={k: v for k, v in resp.headers.items() if k.lower() == "retry-after"},
            )
        if isinstance(verdict, Restart):
            if not verdict.with_body:
                raise _Restart
            # The resource changed (If-Range) or the server ignores ranges: the body is it all.
            await self._restart()
        assert isinstance(verdict, Resume | Restart)
        total = verdict.total
        if request.size is not None and total is not None and total != request.size:
            raise IncompleteDownload(
                f"the server announces {total} bytes, {request.size} were expected",
                url=redact_url(request.url),
                path=self.rel,
            )
        offset = self.offset
        if not self.started:
            self.started = True
            if dl._subscribers:
                dl._emit(DownloadStarted(request, self.rel, total, offset))
        validator = _validator(resp.headers)
        if validator != part.validator:
            part.validator = validator
            if part.fd >= 0:
                await self._settle()
                await dl._thread(part.write_meta, total)
        return await self._stream_body(resp, total)

    async def _open_part(self, start: int, total: int | None) -> None:
        """Hold ``NAME.part`` to continue at byte ``start``, and record this run in its meta."""
        assert self.part is not None
        await self.dl._thread(self.part.open, start, total)

    async def _stream_body(self, resp: StreamResponse, total: int | None) -> FileResult:
        dl, part = self.dl, self.part
        assert part is not None
        executor = dl._executor
        chunk_size = dl._chunk_size
        buffer: list[bytes] = []
        buffered = 0
        emit = bool(dl._subscribers)
        start = self.offset
        opened = False  # open() truncates to ``start`` and records this run
        try:
            async for chunk in resp.iter_chunks():
                n = len(chunk)
                buffer.append(chunk)
                buffered += n
                dl.report.bytes += n
                self.offset += n
                if emit:
                    dl._emit(DownloadProgress(self.request, self.rel, n))
                if buffered >= chunk_size:
                    if not opened:
                        await self._open_part(self.offset - buffered, total)
                        opened = True
                    await self._settle()
                    # The next read overlaps with this hash + write in the pool.
                    self.pending = asyncio.get_running_loop().run_in_executor(
                        executor, part.write_chunks, buffer
                    )
                    buffer = []
                    buffered = 0
        except BaseException as exc:
            # Keep what arrived: a retry (or, with a validator, a later run) resumes after it.
            if buffer and (isinstance(exc, TransportError) or part.validator is not None):
                with anyio.move_on_after(CLOSE_TIMEOUT, shield=True):
                    if not opened:
                        await self._open_part(self.offset - buffered, total)
                    await self._flush(buffer)
            raise
        if total is not None and self.offset > total:
            # The framing is broken: that connection must never serve another request.
            resp.close()
            await self._restart()
            raise IncompleteDownload(
                f"received more than the {total} bytes announced",
                url=redact_url(self.request.url),
                path=self.rel,
            )
        if total is not None and self.offset != total:
            if buffer or opened:
                if not opened:
                    await self._open_part(self.offset - buffered, total)
                await self._flush(buffer)
            raise IncompleteDownload(
                f"received {self.offset} of {total} bytes",
                url=redact_url(self.request.url),
                path=self.rel,
            )
        if not opened and start == 0:
            # The whole body is in memory: hash it here, write and rename in one go.
            for chunk in buffer:
                part.digest.update(chunk)
            self._verify(self.offset)
            if self.offset <= dl._inline_limit:
                part.write_whole(buffer)
            else:
                await dl._thread(part.write_whole, buffer)
            return self._done()
        if not opened:
            await self._open_part(start, total)
        await self._flush(buffer)
        self._verify(self.offset)
        await dl._thread(part.publish)
        return self._done()

    async def _flush(self, buffer: list[bytes]) -> None:
        await self._settle()
        if buffer:
            assert self.part is not None
            await self.dl._thread(self.part.write_chunks, buffer)

    async def _complete(self, total: int) -> FileResult:
        """The ``.part`` already holds every byte (the server answered 416)."""
        assert self.part is not None
        await self._settle()
        self._verify(total)
        await self.dl._thread(self.part.publish)
        return self._done()

    def _verify(self, size: int) -> None:
        request = self.request
        assert self.part is not None
        if request.size is not None and size != request.size:
            raise IncompleteDownload(
                f"received {size} bytes, {request.size} were expected",
                url=redact_url(request.url),
                path=self.rel,
            )
        if request.sha256 is not None and self.part.digest.hexdigest() != request.sha256.lower():
            raise ChecksumMismatch(
                "the sha256 differs from the expected one",
                url=redact_url(request.url),
                path=self.rel,
            )

    def _done(self) -> FileResult:
        assert self.part is not None
        return FileResult(
            request=self.request,
            status=FileStatus.DONE,
            path=self.rel,
            size=self.offset,
            sha256=self.part.digest.hexdigest(),
            attempts=self.attempts,
        )
