"""Shared fixtures: the anyio backend and small real servers on 127.0.0.1."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from aiocircleci import Client, Limits
from aiocircleci.testing import FakeCircleCI, WorldConfig

T = TypeVar("T")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


ServeApp = Callable[[web.Application], AbstractAsyncContextManager[str]]


@asynccontextmanager
async def _serve(app: web.Application) -> AsyncIterator[str]:
    """Run ``app`` on a free port of 127.0.0.1 and yield its base URL (no trailing slash)."""
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
def serve() -> ServeApp:
    return _serve


SMALL_WORLD = WorldConfig(projects=3, pipelines_per_project=1, workflows_per_pipeline=1)
# The client's own limiter never makes a test wait: only the emulator limits.
UNLIMITED = Limits(rate=math.inf, burst=1000, max_in_flight=16)


@asynccontextmanager
async def emulator_client(
    config: WorldConfig = SMALL_WORLD, *, seed: int = 3, page_size: int = 20
) -> AsyncIterator[tuple[FakeCircleCI, Client]]:
    """The emulator on 127.0.0.1 and a client pointed at it, with its token."""
    async with (
        FakeCircleCI(seed=seed, config=config, page_size=page_size) as fake,
        Client(fake.token, base_url=fake.base_url, limits=UNLIMITED) as client,
    ):
        yield fake, client


def some(value: T | None) -> T:
    """``value``, which a test expects to be there (the models default most fields to None)."""
    assert value is not None
    return value


# Session-scoped real S3 (moto) and Valkey servers for the cloud tests.
from tests._servers import redis_server, s3_server  # noqa: E402, F401
