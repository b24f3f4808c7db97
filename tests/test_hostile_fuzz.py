"""Whatever a server sends, only ``aiocircleci.errors`` leave the public API.

Hypothesis draws a hostile answer (status, headers, a Location, a body,
sometimes gzip that is not gzip) and a small aiohttp.web app serves it over a
real socket to the API methods and to the downloader.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiocircleci import (
    CircleCIError,
    Client,
    DownloadRequest,
    Limits,
    RetryPolicy,
    Timeout,
    download_all,
)

from .conftest import _serve

FAST = RetryPolicy(
    max_attempts=2, max_rate_limited=2, backoff_base=0.001, backoff_cap=0.002, max_retry_after=0.01
)
LIMITS = Limits(rate=math.inf, burst=100, max_body_size=64 * 1024)
TIMEOUT = Timeout(connect=1.0, read=1.0, total=3.0)

_LOCATIONS = st.sampled_from(
    [
        "http://127.0.0.1:99999/x",
        "http://[::1",
        "ftp://example.com/file",
        "javascript:alert(1)",
        "//",
        "/api/v2/me",
        "http://127.0.0.1:1/refused",
        "http://user:pass@127.0.0.1:1/",
        "https://%zz/",
        "http://exa mple.com/",
        "\u202e/evil",
        "",
    ]
)
_HEADER_NAMES = st.sampled_from(
    [
        "Retry-After",
        "Content-Type",
        "Content-Range",
        "ETag",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
        "X-RateLimit-Reset",
        "X-RateLimit-Remaining-Minute",
        "Last-Modified",
        "X-Anything",
    ]
)
# Header values aiohttp.web will put on the wire (no CR, LF or NUL).
_HEADER_VALUES = st.one_of(
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.sampled_from(
        ["-1", "1e309", "nan", "bytes */x", "bytes 5-1/2", "0", "99999999999999999999"]
    ),
)
_BODIES = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(
        [
            b"",
            b"null",
            b"[]",
            b'{"items": null}',
            b'{"items": [1, 2], "next_page_token": 7}',
            b'{"message": {"message": ["x"]}}',
            b'{"id": 1, "login": null}',
            b"\x1b]0;title\x07",
            b'{"message": "\\u0000"}',
            b" " * 70_000,  # past the 64 KiB cap of these clients
        ]
    ),
)


@st.composite
def answers(draw: Any) -> dict[str, Any]:
    status = draw(
        st.one_of(
            st.sampled_from([200, 206, 301, 302, 303, 307, 308, 429, 503]), st.integers(200, 599)
        )
    )
    headers = draw(st.dictionaries(_HEADER_NAMES, _HEADER_VALUES, max_size=4))
    if draw(st.booleans()):
        headers["Location"] = draw(_LOCATIONS)
    if draw(st.booleans()):
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "deflate", "br", "x-nope"]))
    body = draw(_BODIES)
    if headers.get("Content-Encoding") == "gzip" and draw(st.booleans()):
        body = zlib.compress(body, wbits=31)
    return {"status": status, "headers": headers, "body": body}


def _app(answer: dict[str, Any]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=answer["status"], headers=answer["headers"], body=answer["body"])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def _every_call(base: str, tmp: Path) -> list[BaseException]:
    """Call a spread of the public API; collect what each raised."""
    raised: list[BaseException] = []
    async with Client(
        "fuzz-token-0123456789",
        base_url=base + "/api/v2",
        retry=FAST,
        limits=LIMITS,
        timeout=TIMEOUT,
    ) as client:
        calls: list[Callable[[], Awaitable[object]]] = [
            client.me,
            lambda: client.get_pipeline("5034460f-c7c4-4c43-9457-de07e2029e7b"),
            lambda: client.pipelines("gh/org/repo", limit=3).collect(),
            lambda: client.trigger_pipeline("gh/org/repo", branch="main"),
            lambda: client.request("GET", "/anything", type=dict[str, Any]),
        ]
        for call in calls:
            try:
                with anyio.fail_after(10):
                    await call()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                raised.append(exc)
    report = await download_all(
        [DownloadRequest(base + "/artifact.bin", "artifact.bin")],
        tmp,
        retry=FAST,
        timeout=TIMEOUT,
    )
    raised.extend(r.error for r in report.failed if r.error is not None)
    return raised


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answer=answers())
def test_only_typed_errors_leave_the_public_api_whatever_the_server_sends(
    tmp_path: Path, answer: dict[str, Any]
) -> None:
    async def main() -> list[BaseException]:
        try:
            app = _app(answer)
        except ValueError:
            return []  # aiohttp.web itself refuses to send this answer
        async with _serve(app) as base:
            return await _every_call(base, tmp_path / "dl")

    raised = anyio.run(main, backend="asyncio")
    strays = [e for e in raised if not isinstance(e, CircleCIError)]
    assert strays == [], f"{answer!r} -> {strays!r}"
