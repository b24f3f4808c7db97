"""Models of the Usage operations."""

from __future__ import annotations

__all__: list[str] = []
