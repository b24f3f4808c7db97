"""The one tree of exceptions that aiocircleci raises.

::

    CircleCIError
    ├── ConfigurationError           missing token, malformed base URL
    ├── TransportError               the request got no usable HTTP answer
    │   ├── ConnectError             refused, reset, DNS, TLS, a broken response
    │   ├── TimeoutError             connect, read or the call's deadline ran out
    │   ├── RedirectError            too many redirects, or one to a bad URL
    │   └── ResponseTooLarge         a body past the size cap (decompressed)
    ├── APIError(status, message, method, url)
    │   ├── BadRequest               400
    │   ├── Unauthorized             401
    │   │   └── TokenNotSent         401 from an artifact host the token was not sent to
    │   ├── Forbidden                403
    │   ├── NotFound                 404
    │   ├── Conflict                 409
    │   ├── UnprocessableEntity      422
    │   ├── RateLimited(retry_after) 429
    │   └── ServerError              5xx
    ├── DecodeError                  a 2xx body that is not what the API promised
    ├── ObjectStoreError(url)        an object store (s3://...) failed a write, list or read
    └── DownloadError(url, path)
        ├── IncompleteDownload       fewer (or more) bytes than announced
        ├── ChecksumMismatch         the sha256 differs from the expected one
        ├── UnsafePath               an artifact path that cannot be made safe
        └── DiskError                the destination cannot be written (ENOSPC, EACCES)
            └── DestinationLocked(pid)  another run holds the destination's lock

Every ``url`` carried by an exception is free of credentials: the token travels
only in headers, and query strings that could hold a signature are dropped.
No raw aiohttp or msgspec exception escapes the public API; the original is
chained as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "APIError",
    "BadRequest",
    "ChecksumMismatch",
    "CircleCIError",
    "ConfigurationError",
    "Conflict",
    "ConnectError",
    "DecodeError",
    "DestinationLocked",
    "DiskError",
    "DownloadError",
    "Forbidden",
    "IncompleteDownload",
    "NotFound",
    "ObjectStoreError",
    "RateLimited",
    "RedirectError",
    "ResponseTooLarge",
    "ServerError",
    "TimeoutError",
    "TokenNotSent",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsafePath",
    "error_for_status",
]


class CircleCIError(Exception):
    """Base class of every error aiocircleci raises."""


class ConfigurationError(CircleCIError):
    """The client cannot be used as configured (no token, bad base URL)."""


class TransportError(CircleCIError):
    """The request got no HTTP answer."""

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.url else ""
        return f"{self.args[0]}{where}"


class ConnectError(TransportError):
    """The connection failed or dropped before a complete answer."""


class TimeoutError(TransportError):  # noqa: A001 - deliberately ours, subclassing CircleCIError
    """The connection or a read timed out."""


class RedirectError(TransportError):
    """A redirect that is not followed: too many of them, or to a URL that is not http(s)."""


class ResponseTooLarge(TransportError):
    """A response body longer than the cap (``limit`` bytes, counted decompressed)."""

    def __init__(self, message: str, *, limit: int = 0, method: str = "", url: str = "") -> None:
        super().__init__(message, method=method, url=url)
        self.limit = limit


class APIError(CircleCIError):
    """The API answered with an error status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        url: str = "",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.method = method
        self.url = url
        # Only the headers a caller may want (request ids, rate limits); never
        # request headers, which hold the token.
        self.headers: Mapping[str, str] = dict(headers or {})

    def __str__(self) -> str:
        where = f" ({self.method} {self.url})" if self.url else ""
        return f"HTTP {self.status}: {self.message}{where}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, message={self.message!r})"


class BadRequest(APIError):
    """400: the request was malformed."""


class Unauthorized(APIError):
    """401: the token is missing, wrong or expired."""


class TokenNotSent(Unauthorized):
    """401 from a host the token was withheld from, because it is not a trusted artifact host.

    The message names the origin to trust: ``--artifact-host ORIGIN`` on the
    command line, ``artifact_hosts=[ORIGIN]`` in Python, or ``CIRCLECI_ARTIFACT_HOSTS``.
    """

    def __init__(self, origin: str, *, url: str = "") -> None:
        super().__init__(
            401,
            f"{origin} answered 401 and was not sent the token, because it is not a trusted "
            f"artifact host; to send it there, pass --artifact-host {origin} "
            f"(or set CIRCLECI_ARTIFACT_HOSTS={origin})",
            method="GET",
            url=url,
        )
        self.origin = origin


class Forbidden(APIError):
    """403: the token may not do this."""


class NotFound(APIError):
    """404: no such resource, or the token cannot see it."""


class Conflict(APIError):
    """409: the resource already exists or is in the wrong state."""


class UnprocessableEntity(APIError):
    """422: the body was understood but refused."""


class RateLimited(APIError):
    """429: too many requests; ``retry_after`` is seconds to wait, if the server said."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        method: str = "",
        url: str = "",
        headers: Mapping[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(status, message, method=method, url=url, headers=headers)
        self.retry_after = retry_after


class ServerError(APIError):
    """5xx: the server failed."""


class DecodeError(CircleCIError):
    """A successful response whose body is not the JSON the API promised.

    ``where`` names the method and endpoint template, ``path`` the JSON path of
    the offending value (``$.items[3].vcs.revision``) and ``excerpt`` a short,
    token-free excerpt of it; the body itself is never kept.
    """

    def __init__(self, message: str, *, where: str = "", path: str = "", excerpt: str = "") -> None:
        super().__init__(message)
        self.where = where
        self.path = path
        self.excerpt = excerpt


class ObjectStoreError(CircleCIError):
    """An object store failed an operation; ``url`` is the object's ``s3://`` (etc.) location."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url

    def __str__(self) -> str:
        where = f" ({self.url})" if self.url else ""
        return f"{self.args[0]}{where}"


class DownloadError(CircleCIError):
    """A download failed; ``url`` is token-free, ``path`` is relative to the destination."""

    def __init__(self, message: str, *, url: str = "", path: str = "") -> None:
        super().__init__(message)
        self.url = url
        self.path = path


class IncompleteDownload(DownloadError):
    """The body was shorter (or longer) than its Content-Length or Content-Range."""


class ChecksumMismatch(DownloadError):
    """The body's sha256 differs from the expected one."""


class UnsafePath(DownloadError):
    """An artifact path that cannot be mapped to a file inside the destination."""


class DiskError(DownloadError):
    """The destination cannot be written: disk full, permission denied, read-only."""


class DestinationLocked(DiskError):
    """Another run writes into the destination; ``pid`` is its process, when known."""

    def __init__(self, message: str, *, path: str = "", pid: int | None = None) -> None:
        super().__init__(message, path=path)
        self.pid = pid


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: UnprocessableEntity,
    429: RateLimited,
}


def error_for_status(status: int) -> type[APIError]:
    """The exception class for an HTTP error status (a table, not an if-ladder)."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIError)
