"""Small frozen configuration values with their defaults, and the one place
that reads the environment (``from_env``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ._auth import Token, token_from_env
from .errors import ConfigurationError

__all__ = [
    "ARTIFACT_HOSTS_ENV",
    "BASE_URL_ENV_VARS",
    "CONNECT_TIMEOUT_ENV",
    "DEFAULT_ARTIFACT_HOSTS",
    "DEFAULT_BASE_URL",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "MAX_BODY_SIZE_ENV",
    "READ_TIMEOUT_ENV",
    "TOTAL_TIMEOUT_ENV",
    "Config",
    "Limits",
    "RetryPolicy",
    "Timeout",
    "check_base_url",
    "from_env",
    "JOB_INDEX_ENV",
    "StoreSettings",
]

DEFAULT_BASE_URL = "https://circleci.com/api/v2"
BASE_URL_ENV_VARS = ("CIRCLECI_BASE_URL",)
# Artifact URLs live on these hosts; private projects need the token there.
DEFAULT_ARTIFACT_HOSTS = ("*.circle-artifacts.com",)
ARTIFACT_HOSTS_ENV = "CIRCLECI_ARTIFACT_HOSTS"
# Kubernetes Indexed Jobs number their pods here; ``--shard /N`` takes K from it.
JOB_INDEX_ENV = "JOB_COMPLETION_INDEX"
# Seconds (decimals allowed) and bytes; each overrides one default.
CONNECT_TIMEOUT_ENV = "CIRCLECI_CONNECT_TIMEOUT"
READ_TIMEOUT_ENV = "CIRCLECI_READ_TIMEOUT"
TOTAL_TIMEOUT_ENV = "CIRCLECI_TIMEOUT"
MAX_BODY_SIZE_ENV = "CIRCLECI_MAX_BODY_SIZE"
# A page of the API is tens of KiB; 32 MiB leaves a wide margin and keeps a
# hostile body (a gzip bomb, an endless stream) well under 100 MiB of RSS.
DEFAULT_MAX_BODY_SIZE = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Timeout:
    """Seconds allowed to connect, between two reads, and for a whole API call.

    ``total`` is the deadline of one API call including its retries of failures
    (5xx, dropped connections, timeouts) and their backoff: a server that sends
    its headers and then stalls gives the user an error after ``total`` seconds
    (one minute by default: three 20-second reads), not after five reads. Waits
    a server asked for with a 429 are bounded by ``RetryPolicy.max_elapsed``
    instead. Downloads stream for as long as bytes keep coming: only
    ``connect`` and ``read`` apply to them.
    """

    connect: float = 10.0
    read: float = 20.0
    total: float | None = 60.0


@dataclass(frozen=True, slots=True)
class Limits:
    """The request budget of a client.

    ``rate`` and ``burst`` feed the token bucket (CircleCI does not publish its
    limits; 10/s with a burst of 20 stays clear of the 429s users report at
    sustained polling). ``max_in_flight`` caps concurrent API requests,
    ``max_connections_per_host`` caps the connection pool. ``adaptive`` halves the
    rate after each 429 and raises it slowly again. ``max_body_size`` caps an
    API response body in decompressed bytes (``ResponseTooLarge`` past it);
    artifact downloads stream to disk and have no cap.
    """

    rate: float = 10.0
    burst: int = 20
    max_in_flight: int = 16
    max_connections_per_host: int = 32
    adaptive: bool = False
    max_body_size: int = DEFAULT_MAX_BODY_SIZE


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How transient failures are retried.

    Backoff is "full jitter": a uniform draw from ``[0, min(cap, base * 2**n)]``.
    5xx answers, dropped connections and timeouts are retried only for idempotent
    methods, up to ``max_attempts`` tries in all. A 429 is retried for every
    method because the server refused before acting; those retries have their own
    budget, ``max_rate_limited`` (many tasks sharing one cool-down can each be
    refused several times in a row while the server's bucket refills), and all
    retries together stop after ``max_elapsed`` seconds. ``max_retry_after``
    clamps what a server may ask us to wait.
    """

    max_attempts: int = 5
    max_rate_limited: int = 20
    max_elapsed: float = 300.0
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 300.0
    retry_statuses: frozenset[int] = frozenset({500, 502, 503, 504})


DEFAULT_TIMEOUT = Timeout()
DEFAULT_LIMITS = Limits()
DEFAULT_RETRY = RetryPolicy()


def check_base_url(base_url: str) -> str:
    """``base_url`` without a trailing slash; ``ConfigurationError`` if it is not one."""
    try:
        parts = urlsplit(base_url)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        _ = parts.port  # raises on a port out of range
    except ValueError:
        ok = False
    if not ok:
        raise ConfigurationError(
            f"invalid base URL {base_url!r}: expected http(s)://host[:port]/api/v2"
        )
    if parts.username or parts.password or parts.query:
        raise ConfigurationError("the base URL must not carry credentials or a query")
    return base_url.rstrip("/")


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """What the environment says: base URL, token, artifact hosts, timeouts, body cap,
    and the shard index a Kubernetes Indexed Job gives (``job_index``).

    ``artifact_hosts`` always starts with ``DEFAULT_ARTIFACT_HOSTS``.
    """

    base_url: str = DEFAULT_BASE_URL
    token: Token | None = None
    artifact_hosts: tuple[str, ...] = DEFAULT_ARTIFACT_HOSTS
    timeout: Timeout = DEFAULT_TIMEOUT
    limits: Limits = DEFAULT_LIMITS
    job_index: str | None = None


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Credentials and endpoint for ``s3://``; ``None`` fields are left to obstore's defaults."""

    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    region: str | None = None
    endpoint: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreSettings:
        """The one place that reads the AWS variables (``os.environ`` by default)."""
        env = os.environ if environ is None else environ

        def get(*names: str) -> str | None:
            for name in names:
                value = env.get(name, "").strip()
                if value:
                    return value
            return None

        return cls(
            access_key_id=get("AWS_ACCESS_KEY_ID"),
            secret_access_key=get("AWS_SECRET_ACCESS_KEY"),
            session_token=get("AWS_SESSION_TOKEN"),
            region=get("AWS_REGION", "AWS_DEFAULT_REGION"),
            endpoint=get("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        )

    @property
    def allow_http(self) -> bool:
        return self.endpoint is not None and self.endpoint.lower().startswith("http://")

    def __repr__(self) -> str:
        # Never the secret or the session token; the key id only as "set".
        key = "set" if self.access_key_id else "unset"
        return f"<StoreSettings key={key} region={self.region} endpoint={self.endpoint}>"


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigurationError(f"${name} must be a positive number, not {text[:40]!r}")
    return value


def from_env(environ: Mapping[str, str] | None = None, *, base_url: str | None = None) -> Config:
    """The configuration from ``environ`` (default: ``os.environ``), read once.

    ``CIRCLECI_BASE_URL`` (unless ``base_url`` is given), ``CIRCLE_TOKEN`` then
    ``CIRCLECI_TOKEN``, ``CIRCLECI_ARTIFACT_HOSTS`` (comma-separated exact
    origins or https host globs, added to ``*.circle-artifacts.com``),
    ``CIRCLECI_CONNECT_TIMEOUT``, ``CIRCLECI_READ_TIMEOUT``, ``CIRCLECI_TIMEOUT``
    (seconds) and ``CIRCLECI_MAX_BODY_SIZE`` (bytes). Unset means the default.
    """
    env = os.environ if environ is None else environ
    if base_url is None:
        for name in BASE_URL_ENV_VARS:
            value = env.get(name, "").strip()
            if value:
                base_url = value
                break
        else:
            base_url = DEFAULT_BASE_URL
    extra = tuple(h.strip() for h in env.get(ARTIFACT_HOSTS_ENV, "").split(",") if h.strip())
    d = DEFAULT_TIMEOUT
    timeout = Timeout(
        connect=_number(env, CONNECT_TIMEOUT_ENV, d.connect),
        read=_number(env, READ_TIMEOUT_ENV, d.read),
        total=_number(env, TOTAL_TIMEOUT_ENV, d.total) if d.total is not None else None,
    )
    max_body = int(_number(env, MAX_BODY_SIZE_ENV, DEFAULT_MAX_BODY_SIZE))
    return Config(
        base_url=check_base_url(base_url),
        token=token_from_env(env),
        artifact_hosts=(*DEFAULT_ARTIFACT_HOSTS, *extra),
        timeout=timeout,
        limits=Limits(max_body_size=max_body),
        job_index=env.get(JOB_INDEX_ENV),
    )
