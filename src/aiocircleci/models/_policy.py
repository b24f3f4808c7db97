"""Models of the Policy Management operations."""

from __future__ import annotations

__all__: list[str] = []
