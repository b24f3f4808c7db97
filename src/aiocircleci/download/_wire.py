"""What a download worker process and its parent say to each other over pipes.

Each frame is a 4-byte big-endian length and a msgpack body (one of the tagged
structs below). The parent writes ``Hello`` (settings, and the token: never in
argv, the environment or a file), then ``Work`` items, then closes the pipe
(no more work). The child answers ``Ready`` once it can take work, then for
each item its events (``Started``, ``Progress``, only when the parent has
subscribers) and one ``Result``; a full or unwritable disk ends it with ``Fatal``.
Events gathered during one turn of the child's loop go out as one frame per
file, and a file that finishes in that turn carries them in its ``Result``: a
small file costs one frame, whatever the subscribers.

Errors cross as ``WireError``: the class name (and its bases, nearest first) and
the exception's fields, rebuilt on the other side as the same class of
``errors.py`` with the same ``status``, ``url``, ``path``... (the ``__cause__``
stays behind; its text is not needed by a caller).
"""

from __future__ import annotations

import struct
from typing import Any, Final

import msgspec

from .. import errors
from .._auth import OriginPolicy
from .._config import RetryPolicy, Timeout
from .._segments import SegmentConfig
from ..errors import CircleCIError, DownloadError
from ._partfile import PartInUse

__all__ = [
    "HEADER",
    "Fatal",
    "FromChild",
    "Hello",
    "Progress",
    "Ready",
    "Result",
    "Started",
    "ToChild",
    "WireError",
    "Work",
    "error_from_wire",
    "error_to_wire",
    "frame",
    "from_child",
    "policy_from_wire",
    "policy_to_wire",
    "to_child",
]

HEADER: Final = struct.Struct(">I")


class Hello(msgspec.Struct, tag="hello", frozen=True, kw_only=True, array_like=True):
    token: str | None
    origins: list[tuple[str, str, int]]
    globs: list[str]
    dest: str
    run_id: str
    parent: int  # the parent's pid: a child whose parent is already gone exits
    workers: int
    max_connections_per_host: int | None
    max_open_files: int | None
    overwrite: bool
    retry: RetryPolicy
    timeout: Timeout
    chunk_size: int
    inline_limit: int
    segments: SegmentConfig | None
    events: bool  # forward Started / Progress (the parent has subscribers)

    def __repr__(self) -> str:
        return f"Hello(dest={self.dest!r}, run_id={self.run_id!r}, workers={self.workers})"


class Work(msgspec.Struct, tag="work", frozen=True, array_like=True):
    id: int
    url: str
    path: str  # the request's own (untrusted) path, for its result
    rel: str  # the safe, claimed path the parent chose
    size: int | None
    sha256: str | None


class Ready(msgspec.Struct, tag="ready", frozen=True, array_like=True):
    pass


class Started(msgspec.Struct, tag="started", frozen=True, array_like=True):
    id: int
    total: int | None
    offset: int


class Progress(msgspec.Struct, tag="progress", frozen=True, array_like=True):
    id: int
    delta: int


class WireError(msgspec.Struct, frozen=True):
    kinds: list[str]  # class names, the exception's own first
    args: list[Any]
    fields: dict[str, Any]


class Result(msgspec.Struct, tag="result", frozen=True, array_like=True):
    id: int
    status: str
    path: str
    size: int
    sha256: str | None
    attempts: int
    received: int  # body bytes the child received since its previous Result
    error: WireError | None = None
    # Events not yet sent when the file finished ride along: (total, offset), bytes.
    started: tuple[int | None, int] | None = None
    progress: int = 0


class Fatal(msgspec.Struct, tag="fatal", frozen=True, array_like=True):
    error: WireError


ToChild = Hello | Work
FromChild = Ready | Started | Progress | Result | Fatal

_encoder = msgspec.msgpack.Encoder()
to_child = msgspec.msgpack.Decoder(ToChild)
from_child = msgspec.msgpack.Decoder(FromChild)


def frame(message: ToChild | FromChild) -> bytes:
    body = _encoder.encode(message)
    return HEADER.pack(len(body)) + body


# -- errors

_KNOWN: Final[dict[str, type[CircleCIError]]] = {
    name: cls
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type) and issubclass(cls, CircleCIError)
}
_KNOWN["PartInUse"] = PartInUse


def _plain(value: Any) -> bool:
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def error_to_wire(exc: CircleCIError) -> WireError:
    kinds = [cls.__name__ for cls in type(exc).__mro__ if issubclass(cls, CircleCIError)]
    fields = {k: v for k, v in vars(exc).items() if _plain(v)}
    return WireError(kinds=kinds, args=[a for a in exc.args if _plain(a)], fields=fields)


def error_from_wire(wire: WireError) -> CircleCIError:
    """The same class (or its nearest known base) with the same fields."""
    cls: type[CircleCIError] = DownloadError
    for name in wire.kinds:
        if name in _KNOWN:
            cls = _KNOWN[name]
            break
    exc = cls.__new__(cls)
    exc.args = tuple(wire.args)
    exc.__dict__.update(wire.fields)
    return exc


# -- the token policy


def policy_to_wire(policy: OriginPolicy | None) -> tuple[list[tuple[str, str, int]], list[str]]:
    if policy is None:
        return [], []
    return sorted(policy._origins), list(policy._globs)


def policy_from_wire(origins: list[tuple[str, str, int]], globs: list[str]) -> OriginPolicy:
    urls = []
    for scheme, host, port in origins:
        if port < 0:
            continue  # matches nothing anyway
        netloc = f"[{host}]" if ":" in host else host
        urls.append(f"{scheme}://{netloc}:{port}")
    return OriginPolicy(urls, globs)
