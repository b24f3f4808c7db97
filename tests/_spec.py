"""CircleCI's OpenAPI spec, as the project keeps it (``aiocircleci/testing/data/openapi.json``).

The file holds the spec's machine-readable part, written by
``python -m tests.data.make_spec_data``; no test needs anything outside the repository.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import aiocircleci.testing

SPEC_PATH = Path(aiocircleci.testing.__file__).resolve().parent / "data" / "openapi.json"


@functools.cache
def _load() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return spec


def load_spec() -> dict[str, Any]:
    """A fresh copy of the spec (callers may change it)."""
    return copy.deepcopy(_load())
