"""Every operation of the OpenAPI spec has exactly one typed method, and the README says so."""

from __future__ import annotations

from collections import Counter

from . import _apitable
from ._spec import load_spec

METHODS = ("get", "post", "put", "patch", "delete")


def spec_operations() -> set[tuple[str, str]]:
    spec = load_spec()
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


def test_the_spec_has_113_operations() -> None:
    assert len(spec_operations()) == 113


def test_each_spec_operation_is_named_by_exactly_one_client_method() -> None:
    named = Counter((method, path) for _, _, method, path in _apitable.operations())
    twice = sorted(op for op, n in named.items() if n > 1)
    assert twice == [], f"operations named by more than one method: {twice}"
    missing = sorted(spec_operations() - set(named))
    assert missing == [], f"{len(missing)} operations without a method: {missing}"


def test_no_client_method_names_an_operation_the_spec_lacks() -> None:
    named = {(method, path) for _, _, method, path in _apitable.operations()}
    extra = sorted(named - spec_operations())
    assert extra == [], f"methods naming operations the spec lacks: {extra}"


def test_the_readme_api_table_matches_the_code() -> None:
    assert _apitable.current() == _apitable.section(), (
        "README.md's API table is out of date: run `python -m tests._apitable`"
    )
