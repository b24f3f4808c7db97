"""The README's API reference table, generated from the code.

``python -m tests._apitable`` rewrites the table between the markers in
README.md; ``tests/test_api_coverage.py`` fails when the two differ.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

from aiocircleci import Client

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN = "<!-- api-table:begin -->"
END = "<!-- api-table:end -->"
OPERATION = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/\S*)$")


def operations() -> list[tuple[str, str, str, str]]:
    """(area, method name, HTTP method, path) for every public method that names an operation."""
    rows: list[tuple[str, str, str, str]] = []
    for name, member in inspect.getmembers(Client, inspect.isfunction):
        if name.startswith("_"):
            continue
        doc = inspect.getdoc(member) or ""
        match = OPERATION.match(doc.splitlines()[0] if doc else "")
        if match is None:
            continue
        owner = next(c for c in Client.__mro__ if name in vars(c))
        area = (owner.__doc__ or owner.__name__).split(":")[0].strip()
        rows.append((area, name, match[1], match[2]))
    return rows


def is_listing(name: str) -> bool:
    """Whether the method returns a ``Paginator`` (an async iterator over every page)."""
    return "Paginator" in str(inspect.signature(getattr(Client, name)).return_annotation)


def table() -> str:
    lines = ["| area | method | HTTP call |", "|---|---|---|"]
    for area, name, method, path in sorted(operations()):
        shown = f"`{name}` (listing)" if is_listing(name) else f"`{name}`"
        lines.append(f"| {area} | {shown} | `{method} {path}` |")
    return "\n".join(lines)


def section() -> str:
    return f"{BEGIN}\n{table()}\n{END}"


def current() -> str | None:
    text = README.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        return None
    start = text.index(BEGIN)
    return text[start : text.index(END) + len(END)]


def write() -> None:
    text = README.read_text(encoding="utf-8")
    old = current()
    new = text.replace(old, section()) if old is not None else text.rstrip() + "\n\n" + section()
    README.write_text(new.rstrip() + "\n", encoding="utf-8")


if __name__ == "__main__":
    write()
    sys.stdout.write(f"wrote {len(operations())} operations into {README.name}\n")
