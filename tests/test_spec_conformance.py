"""Every route the emulator serves answers JSON that validates against CircleCI's spec.

The spec is the project's copy of its machine-readable part (``tests/_spec.py``);
the emulator runs in spec mode (``shapes="spec"``). The real service sends
``null`` where the spec does not say ``nullable`` (the last page's
``next_page_token``, ``avatar_url``...), and the real service wins, so a property
that does not mention ``nullable`` also accepts ``null``; nothing else is loosened.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import aiohttp
import pytest
from openapi_schema_validator import OAS30Validator
from openapi_schema_validator._format import oas30_format_checker

from aiocircleci.testing import FakeCircleCI, WorldConfig
from aiocircleci.testing._api import all_routes

from . import _cases_account, _cases_core, _cases_platform
from ._conformance import TOKEN, Call, Case
from ._spec import load_spec

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


# ------------------------------------------------------------ schema plumbing

_NULL_ONLY = {"type": "string", "nullable": True, "enum": [None]}


def _inline(node: Any, spec: dict[str, Any], stack: tuple[str, ...] = ()) -> Any:
    """Replace every local ``$ref`` by its target (a cycle becomes ``{}``)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in stack:
                return {}
            target: Any = spec
            for part in ref[2:].split("/"):
                target = target[part]
            return _inline(target, spec, (*stack, ref))
        return {key: _inline(value, spec, stack) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, spec, stack) for item in node]
    return node


def allow_null(schema: Any) -> Any:
    """Let every property that does not mention ``nullable`` also be ``null``; nothing more."""
    if isinstance(schema, list):
        return [allow_null(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: allow_null(value) for key, value in schema.items() if key != "properties"}
    if isinstance(schema.get("properties"), dict):
        result["properties"] = {
            name: allow_null(prop)
            if "nullable" in prop
            else {"anyOf": [allow_null(prop), _NULL_ONLY]}
            for name, prop in schema["properties"].items()
        }
    return result


def _branchwise(schema: Any) -> Any:
    """Read ``additionalProperties: false`` beside ``anyOf``/``oneOf`` as meant per branch.

    ``update_env_var`` puts it next to ``anyOf`` with no ``properties`` of its own:
    read literally, no object at all can match (every key is "additional", yet each
    branch requires keys). Each branch carries its own ``additionalProperties:
    false``, so dropping the outer one loses nothing the spec meant.
    """
    if isinstance(schema, list):
        return [_branchwise(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    result = {key: _branchwise(value) for key, value in schema.items()}
    if (
        result.get("additionalProperties") is False
        and "properties" not in result
        and ("anyOf" in result or "oneOf" in result)
    ):
        del result["additionalProperties"]
    return result


def response_schema(spec: dict[str, Any], operation_id: str, status: int) -> dict[str, Any] | None:
    """The transformed JSON schema for ``operation_id`` answering ``status``.

    ``None`` where the spec declares that answer without a body (a 204).
    """
    for methods in spec["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                responses = operation["responses"]
                response = responses.get(str(status), responses.get("default"))
                if response is None:
                    raise AssertionError(f"{operation_id} declares no {status} nor default")
                response = _inline(response, spec)
                if "content" not in response:
                    return None
                schema = response["content"]["application/json"]["schema"]
                return allow_null(_branchwise(copy.deepcopy(schema)))  # type: ignore[no-any-return]
    raise AssertionError(f"operation {operation_id} is not in the spec")


def validation_errors(schema: dict[str, Any], body: Any) -> list[str]:
    validator = OAS30Validator(schema, format_checker=oas30_format_checker)
    problems = []
    for error in validator.iter_errors(body):
        # anyOf (from allow_null) hides the real reason in its first branch.
        while error.context:
            first = [e for e in error.context if list(e.relative_schema_path)[:1] == [0]]
            error = (first or error.context)[0]
        problems.append(f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}")
    return problems


def test_null_is_the_only_thing_allow_null_loosens() -> None:
    schema = allow_null(
        {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "state": {"type": "string", "enum": ["a", "b"]},
                "tag": {"type": "string", "nullable": False},
            },
            "required": ["name", "state"],
            "additionalProperties": False,
        }
    )
    assert validation_errors(schema, {"name": None, "state": None}) == []
    assert validation_errors(schema, {"name": "x", "state": "a", "tag": "t"}) == []
    assert validation_errors(schema, {"name": 1, "state": "a"})
    assert validation_errors(schema, {"name": "x", "state": "c"})
    assert validation_errors(schema, {"name": "x"})
    assert validation_errors(schema, {"name": "x", "state": "a", "extra": 1})
    assert validation_errors(schema, {"name": "x", "state": "a", "tag": None})
    assert validation_errors(schema, None)


def test_update_env_var_schema_admits_nothing_as_written(spec: dict[str, Any]) -> None:
    literal = _inline(spec["components"]["schemas"]["update_env_var"], spec)
    body = {
        "variable": "X",
        "created_at": "2025-01-01T00:00:00Z",
        "updated_at": "2025-01-01T00:00:00Z",
        "context_id": "5034460f-c7c4-4c43-9457-de07e2029e7b",
    }
    for candidate in (body, {"message": "ok"}, {}):
        assert validation_errors(literal, candidate)
    assert validation_errors(_branchwise(literal), body) == []
    assert validation_errors(_branchwise(literal), {**body, "extra": 1})


# ------------------------------------------------------------------- the cases

SUCCESS: dict[str, Case] = {
    **_cases_core.SUCCESS,
    **_cases_account.SUCCESS,
    **_cases_platform.SUCCESS,
}
ERRORS: list[tuple[str, Case]] = [
    *_cases_core.ERRORS,
    *_cases_account.ERRORS,
    *_cases_platform.ERRORS,
]


def test_every_registered_route_has_a_conformance_case() -> None:
    registered = {route.operation_id for route in all_routes()}
    assert registered == set(SUCCESS)
    assert {name for name, _ in ERRORS} <= registered


def test_every_registered_route_is_in_the_spec(spec: dict[str, Any]) -> None:
    in_spec = {
        (method.upper(), path, operation["operationId"])
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if isinstance(operation, dict) and "operationId" in operation
    }
    for route in all_routes():
        assert (route.method, route.path, route.operation_id) in in_spec, route


async def _run(
    session: aiohttp.ClientSession, fake: FakeCircleCI, call: Call
) -> tuple[int, Any, str]:
    headers = {"Accept": "application/json"}
    if call.token is not None:
        headers["Circle-Token"] = call.token
    async with session.request(
        call.method,
        fake.base_url + call.path,
        json=call.json,
        params=call.params,
        headers=headers,
    ) as response:
        text = await response.text()
        if response.status == 204:
            return response.status, None if not text else text, text
        assert response.content_type == "application/json", (call, text)
        return response.status, json.loads(text), text


async def test_every_route_answers_json_that_the_spec_accepts(spec: dict[str, Any]) -> None:
    config = WorldConfig(projects=3, pipelines_per_project=12, max_artifact_size=256)
    problems: list[str] = []
    async with (
        FakeCircleCI(seed=7, token=TOKEN, config=config, shapes="spec") as fake,
        aiohttp.ClientSession() as session,
    ):
        for operation_id, case in [*SUCCESS.items(), *ERRORS]:
            call = case(fake)
            status, body, text = await _run(session, fake, call)
            if status != call.status:
                problems.append(f"{operation_id}: {call} answered {status}: {text[:300]}")
                continue
            schema = response_schema(spec, operation_id, status)
            if schema is None:
                if body is not None:
                    problems.append(f"{operation_id} {status}: a body where the spec has none")
                continue
            for error in validation_errors(schema, body):
                problems.append(f"{operation_id} {status}: {error}")
        answered = {r.operation for r in fake.api_requests if r.status and r.status < 300}
    assert not problems, "\n".join(problems)
    assert answered == set(SUCCESS)
