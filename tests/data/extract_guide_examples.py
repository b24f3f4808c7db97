"""Extract the example JSON bodies of CircleCI's API Developer's Guide into a data file.

``python -m tests.data.extract_guide_examples [GUIDE]`` reads the guide (by default
``../shared/reference/api-developers-guide.md`` beside the repository) and writes
``tests/data/guide_examples.json``: every fenced code block whose text parses as
JSON, with the guide section it came from, the request the guide makes just
before it (``GET /project/{project_slug}``) and whether it is a response body.
Nothing is typed in by hand: rerun this to refresh the file.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_GUIDE = ROOT.parent / "shared" / "reference" / "api-developers-guide.md"
OUTPUT = Path(__file__).resolve().parent / "guide_examples.json"

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
_HEADING = re.compile(r"^(#{2,4})\s+(.*?)\s*$")
_URL = re.compile(r"https://circleci\.com/api/v2(/[^\s\\'\"]*)")
_METHOD = re.compile(r"-X\s+(GET|POST|PUT|PATCH|DELETE)")


def blocks(text: str) -> list[dict[str, Any]]:
    """Every fenced block: its language, text, line, section and the request made before it."""
    found: list[dict[str, Any]] = []
    headings: dict[int, str] = {}
    request: str | None = None
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        heading = _HEADING.match(line)
        if heading:
            level = len(heading[1])
            headings = {k: v for k, v in headings.items() if k < level}
            headings[level] = heading[2]
        section = " > ".join(headings[k] for k in sorted(headings))
        fence = _FENCE.match(line)
        if fence is None:
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and not _FENCE.match(lines[end]):
            end += 1
        body = "\n".join(lines[start:end])
        found.append(
            {
                "language": fence[2],
                "text": body,
                "line": start,
                "section": section,
                "request": request,
            }
        )
        url = _URL.search(body)
        if url:
            method = _METHOD.search(body)
            request = f"{method[1] if method else 'GET'} {url[1]}"
        index = end + 1
    return found


def _closers(text: str) -> str:
    """The brackets that close what ``text`` left open (strings skipped)."""
    stack: list[str] = []
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append("]" if char == "[" else "}")
        elif char in "]}" and stack:
            stack.pop()
    return "".join(reversed(stack))


def parse(text: str) -> tuple[Any, str] | None:
    """``(body, how)``: the JSON of a block, or of an extract the guide cut short.

    The guide shows some bodies as extracts: a few items of a list separated by
    commas, or a page cut off after some items. ``how`` says what was done:
    ``""`` (whole), ``"items"`` (a run of list items) or ``"closed"`` (brackets
    closed after the last complete item).
    """
    try:
        return json.loads(text), ""
    except ValueError:
        pass
    trimmed = text.strip().rstrip(",").strip()
    try:
        return json.loads(f"[{trimmed}]"), "items"
    except ValueError:
        pass
    try:
        return json.loads(trimmed + _closers(trimmed)), "closed"
    except ValueError:
        return None


def examples(text: str) -> list[dict[str, Any]]:
    out = []
    for block in blocks(text):
        if block["language"] not in ("", "json"):
            continue
        parsed = parse(block["text"])
        if parsed is None or not isinstance(parsed[0], dict | list):
            continue
        body, how = parsed
        out.append(
            {
                "section": block["section"],
                "line": block["line"],
                "request": block["request"],
                "extract": how,
                "body": body,
            }
        )
    return out


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else DEFAULT_GUIDE
    found = examples(path.read_text(encoding="utf-8"))
    document = {
        "source": "CircleCI API Developer's Guide (api-developers-guide.md)",
        "examples": found,
    }
    OUTPUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(found)} examples to {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
