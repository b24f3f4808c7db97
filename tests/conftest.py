"""Shared fixtures: the anyio backend and small real servers on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


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
