"""Write the machine-readable part of CircleCI's OpenAPI spec into the package.

``python -m tests.data.make_spec_data [SPEC]`` reads the spec (by default
``../shared/reference/circleci-api-v2.openapi.json`` beside the repository) and
writes ``src/aiocircleci/testing/data/openapi.json``: its paths, methods,
parameters, request bodies, responses and schemas, without the description and
summary prose, and an ``x-aiocircleci-source`` block naming the original's
source, version and SHA-256. The tests read that file, so they need nothing
outside the repository.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = ROOT.parent / "shared" / "reference" / "circleci-api-v2.openapi.json"
OUTPUT = ROOT / "src" / "aiocircleci" / "testing" / "data" / "openapi.json"
SOURCE = "https://circleci.com/api/v2/openapi.json"
# Prose, and nothing a machine reads: dropped everywhere except inside a schema's
# ``properties`` (where a property may be called ``description`` or ``summary``).
_PROSE = frozenset({"description", "summary", "externalDocs", "x-codeSamples", "x-tagGroups"})


def strip(node: Any, *, in_properties: bool = False) -> Any:
    """``node`` without prose keys; property names are kept whatever they are."""
    if isinstance(node, dict):
        return {
            key: strip(value, in_properties=key == "properties" and not in_properties)
            for key, value in node.items()
            if in_properties or key not in _PROSE
        }
    if isinstance(node, list):
        return [strip(item) for item in node]
    return node


def machine_part(spec: dict[str, Any], digest: str) -> dict[str, Any]:
    kept = {key: strip(spec[key]) for key in ("openapi", "servers", "paths", "components")}
    kept["info"] = {"title": spec["info"]["title"], "version": spec["info"]["version"]}
    kept["x-aiocircleci-source"] = {
        "source": SOURCE,
        "version": spec["info"]["version"],
        "sha256": digest,
        "note": "description and summary prose removed; see tests/data/make_spec_data.py",
    }
    return kept


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_SPEC
    raw = path.read_bytes()
    spec = json.loads(raw)
    part = machine_part(spec, hashlib.sha256(raw).hexdigest())
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(part, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({OUTPUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
