"""What one response means for the file being downloaded: a pure decision.

``classify_response(status, headers, offset)`` looks only at the status, the
headers and how many bytes the ``.part`` already holds, and answers:

- ``Resume(start, total)``: the body continues the file at byte ``start``
  (a 206 at our offset, or a 200 to a request for the whole file);
- ``Restart(total, with_body)``: what is on disk is no good; with ``with_body``
  the body is the whole file (a 200 to a range request: the resource changed,
  or the server ignores ranges), otherwise ask again from byte 0;
- ``Complete(total)``: the ``.part`` already holds every byte (a 416 whose
  ``bytes */N`` equals our offset);
- ``Fail(reason, status, retry)``: an error status, or a header defect. A defect
  fails that file alone; ``retry`` says whether asking again may help.

Numbers in headers are ASCII digits only: Python's ``int()`` accepts any
Unicode digit (``"٠"``), and ``str.isdigit()`` accepts some ``int()`` refuses
(``"²"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "Classification",
    "Complete",
    "Fail",
    "Restart",
    "Resume",
    "classify_response",
    "content_range",
    "parse_length",
]


class HeaderDefect(ValueError):
    """A header a well-behaved server never sends."""


@dataclass(frozen=True, slots=True)
class Resume:
    start: int
    total: int | None


@dataclass(frozen=True, slots=True)
class Restart:
    total: int | None
    with_body: bool


@dataclass(frozen=True, slots=True)
class Complete:
    total: int


@dataclass(frozen=True, slots=True)
class Fail:
    reason: str
    status: int
    retry: bool = False


Classification = Resume | Restart | Complete | Fail


def _number(text: str, what: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        raise HeaderDefect(f"{what} is not a number: {text[:40]!r}")
    return int(text)


def parse_length(value: str | None) -> int | None:
    """Content-Length as an int; ``None`` when absent; ``HeaderDefect`` when malformed."""
    if value is None:
        return None
    return _number(value, "Content-Length")


def content_range(value: str | None) -> tuple[int | None, int | None]:
    """``(start, total)`` of ``bytes a-b/n``; ``(None, n)`` for ``bytes */n``; ``n`` may be ``*``.

    ``(None, None)`` when absent; ``HeaderDefect`` when malformed.
    """
    if value is None:
        return None, None
    unit, _, spec = value.strip().partition(" ")
    if unit.lower() != "bytes":
        raise HeaderDefect(f"Content-Range is not in bytes: {value[:40]!r}")
    span, slash, total_text = spec.partition("/")
    if not slash:
        raise HeaderDefect(f"Content-Range has no total: {value[:40]!r}")
    total = None if total_text.strip() == "*" else _number(total_text, "Content-Range's total")
    if span.strip() == "*":
        return None, total
    first, dash, last = span.partition("-")
    if not dash:
        raise HeaderDefect(f"Content-Range has no range: {value[:40]!r}")
    start = _number(first, "Content-Range's start")
    end = _number(last, "Content-Range's end")
    if end < start or (total is not None and end >= total):
        raise HeaderDefect(f"Content-Range is inconsistent: {value[:40]!r}")
    return start, total


def classify_response(status: int, headers: Mapping[str, str], offset: int) -> Classification:
    """What the per-file loop does with a response to a request from byte ``offset``."""
    try:
        return _classify(status, headers, offset)
    except HeaderDefect as exc:
        return Fail(f"a defective header: {exc}", status)


def _classify(status: int, headers: Mapping[str, str], offset: int) -> Classification:
    if status == 416 and offset > 0:
        _, total = content_range(headers.get("Content-Range"))
        if total == offset:
            return Complete(total)
        return Restart(None, with_body=False)
    if status == 206:
        start, total = content_range(headers.get("Content-Range"))
        length = parse_length(headers.get("Content-Length"))
        if start is None:
            return Fail("a partial answer without a byte range", status)
        if start != offset:
            if offset == 0:
                return Fail("a partial answer to a request for the whole file", status, retry=True)
            return Restart(None, with_body=False)
        if total is None and length is not None:
            total = offset + length
        return Resume(offset, total)
    if status == 200:
        length = parse_length(headers.get("Content-Length"))
        if offset > 0:
            return Restart(length, with_body=True)
        return Resume(0, length)
    return Fail(f"HTTP {status}", status, retry=status >= 500 or status == 429)
