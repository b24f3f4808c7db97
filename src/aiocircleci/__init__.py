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
from .mirror import Globs, Mirror, MirrorReport, Selection, mirror_artifacts, parse_time

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
