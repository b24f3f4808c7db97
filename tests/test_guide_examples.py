"""Every example response body of CircleCI's API Developer's Guide decodes through its method.

The bodies come from ``tests/data/guide_examples.json``, which
``python -m tests.data.extract_guide_examples`` extracts from the guide's code
blocks. Each is served by a small aiohttp app on 127.0.0.1 and fetched through
the client method that serves that request, so the whole decoding path runs.
Warnings are errors here: a skipped item fails the test.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiohttp import web

from aiocircleci import Client

from .conftest import UNLIMITED, ServeApp

pytestmark = pytest.mark.anyio

DATA = Path(__file__).resolve().parent / "data" / "guide_examples.json"
EXAMPLES: list[dict[str, Any]] = json.loads(DATA.read_text(encoding="utf-8"))["examples"]
SLUG = "gh/CircleCI-Public/api-preview-docs"

Call = Callable[[Client], Awaitable[Any]]

# The request the guide makes before each body -> the method that serves it. The
# guide's ".../workflows/builds" is really the runs of the workflow named "builds".
CALLS: dict[str, Call] = {
    "GET /me": lambda c: c.me(),
    "GET /project/{project-slug}/pipeline": lambda c: c.pipelines(SLUG).collect(),
    "GET /project/{project_slug}": lambda c: c.get_project(SLUG),
    "GET /project/{project_slug}/job/{job_number}": lambda c: c.get_job(SLUG, 1),
    "GET /project/{project-slug}/{job_number}/artifacts": lambda c: c.job_artifacts(
        SLUG, 1
    ).collect(),
    "GET /insights/{project-slug}/workflows": lambda c: c.workflow_metrics(SLUG).collect(),
    "GET /insights/{project-slug}/workflows/builds": lambda c: c.workflow_runs(
        SLUG, "builds"
    ).collect(),
}


def _identities(body: Any) -> list[Any]:
    """The identity values in a body (ids, slugs, artifact paths), in order."""
    items = body.get("items", [body]) if isinstance(body, dict) else body
    return [i.get("id") or i.get("slug") or i.get("path") or i.get("name") for i in items]


def test_the_guide_has_examples_and_each_one_has_a_method() -> None:
    assert len(EXAMPLES) >= 7
    assert {e["request"] for e in EXAMPLES} <= set(CALLS)


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[f"line{e['line']}-{e['request']}" for e in EXAMPLES]
)
async def test_each_example_body_in_the_guide_decodes(
    serve: ServeApp, example: dict[str, Any]
) -> None:
    body = example["body"]
    # An extract of a listing's items is served as the page it was cut from.
    served = {"items": body, "next_page_token": None} if example["extract"] == "items" else body
    seen: list[str] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response(served)

    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    async with serve(app) as base, Client("t", base_url=base, limits=UNLIMITED) as client:
        result = await CALLS[example["request"]](client)
    assert seen, "the client sent no request"
    decoded = result if isinstance(result, list) else [result]
    plain = msgspec.to_builtins(decoded)
    wanted = _identities(served)
    assert [i.get("id") or i.get("slug") or i.get("path") or i.get("name") for i in plain] == wanted
