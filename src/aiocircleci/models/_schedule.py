"""Models of the Schedule operations."""

from __future__ import annotations

__all__: list[str] = []
