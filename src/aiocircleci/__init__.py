"""aiocircleci: an asyncio client for the CircleCI REST API v2.

::

    async with aiocircleci.Client() as client:
        async for pipeline in client.pipelines("gh/org/repo", branch="main"):
            print(pipeline.number, pipeline.state)

The package runs on asyncio (aiohttp needs it), under anyio. ``download_all`` and
``Downloader`` fetch artifacts concurrently; ``mirror_artifacts`` and ``Mirror``
mirror the artifacts of chosen pipelines; ``aiocircleci.testing`` is an embedded
CircleCI emulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    APIError,
    BadRequest,
    ChecksumMismatch,
    CircleCIError,
    ConfigurationError,
    Conflict,
    ConnectError,
    DecodeError,
    DestinationLocked,
    DiskError,
    DownloadError,
    Forbidden,
    IncompleteDownload,
    NotFound,
    ObjectStoreError,
    RateLimited,
    RedirectError,
    ResponseTooLarge,
    ServerError,
    TimeoutError,
    TokenNotSent,
    TransportError,
    Unauthorized,
    UnprocessableEntity,
    UnsafePath,
)

if TYPE_CHECKING:
    from ._auth import Token
    from ._config import (
        DEFAULT_BASE_URL,
        DEFAULT_LIMITS,
        DEFAULT_MAX_BODY_SIZE,
        DEFAULT_RETRY,
        DEFAULT_TIMEOUT,
        Limits,
        RetryPolicy,
        Timeout,
    )
    from ._decode import DecodeWarning
    from ._http import Headers, Request, Response
    from ._limiter import Limiter, RateLimiter
    from ._mock import MockTransport
    from ._pagination import PaginationWarning, Paginator
    from ._ratelimit import RateLimitInfo
    from ._redis_limiter import RedisRateLimiter
    from ._slug import ProjectSlug
    from .client import Client
    from .download import (
        DownloadDone,
        Downloader,
        DownloadEvent,
        DownloadFailed,
        DownloadProgress,
        DownloadQueued,
        DownloadReport,
        DownloadRequest,
        DownloadSkipped,
        DownloadStarted,
        FileResult,
        FileStatus,
        download_all,
    )
    from .mirror import Globs, Mirror, MirrorReport, Selection, mirror_artifacts, parse_time

# Everything but the error tree is imported when first used (PEP 562): `import
# aiocircleci`, the CLI's start-up and each download worker process pay only for
# the parts they use.
_LAZY: dict[str, str] = {
    "Client": ".client",
    "DEFAULT_BASE_URL": "._config",
    "DEFAULT_LIMITS": "._config",
    "DEFAULT_MAX_BODY_SIZE": "._config",
    "DEFAULT_RETRY": "._config",
    "DEFAULT_TIMEOUT": "._config",
    "DecodeWarning": "._decode",
    "DownloadDone": ".download",
    "DownloadEvent": ".download",
    "DownloadFailed": ".download",
    "DownloadProgress": ".download",
    "DownloadQueued": ".download",
    "DownloadReport": ".download",
    "DownloadRequest": ".download",
    "DownloadSkipped": ".download",
    "DownloadStarted": ".download",
    "Downloader": ".download",
    "FileResult": ".download",
    "FileStatus": ".download",
    "Globs": ".mirror",
    "Headers": "._http",
    "Limiter": "._limiter",
    "Limits": "._config",
    "Mirror": ".mirror",
    "MirrorReport": ".mirror",
    "MockTransport": "._mock",
    "PaginationWarning": "._pagination",
    "Paginator": "._pagination",
    "ProjectSlug": "._slug",
    "RateLimitInfo": "._ratelimit",
    "RateLimiter": "._limiter",
    "RedisRateLimiter": "._redis_limiter",
    "Request": "._http",
    "Response": "._http",
    "RetryPolicy": "._config",
    "Selection": ".mirror",
    "Timeout": "._config",
    "Token": "._auth",
    "download_all": ".download",
    "mirror_artifacts": ".mirror",
    "parse_time": ".mirror",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "APIError",
    "BadRequest",
    "ChecksumMismatch",
    "CircleCIError",
    "Client",
    "ConfigurationError",
    "Conflict",
    "ConnectError",
    "DecodeError",
    "DecodeWarning",
    "DestinationLocked",
    "DiskError",
    "DownloadDone",
    "DownloadError",
    "DownloadEvent",
    "DownloadFailed",
    "DownloadProgress",
    "DownloadQueued",
    "DownloadReport",
    "DownloadRequest",
    "DownloadSkipped",
    "DownloadStarted",
    "Downloader",
    "FileResult",
    "FileStatus",
    "Forbidden",
    "Globs",
    "Headers",
    "IncompleteDownload",
    "Limiter",
    "Limits",
    "Mirror",
    "MirrorReport",
    "MockTransport",
    "NotFound",
    "ObjectStoreError",
    "PaginationWarning",
    "Paginator",
    "ProjectSlug",
    "RateLimitInfo",
    "RateLimited",
    "RateLimiter",
    "RedirectError",
    "RedisRateLimiter",
    "Request",
    "Response",
    "ResponseTooLarge",
    "RetryPolicy",
    "Selection",
    "ServerError",
    "Timeout",
    "TimeoutError",
    "Token",
    "TokenNotSent",
    "TransportError",
    "Unauthorized",
    "UnprocessableEntity",
    "UnsafePath",
    "__version__",
    "download_all",
    "mirror_artifacts",
    "parse_time",
]
