"""Models of the Deploy operations."""

from __future__ import annotations

__all__: list[str] = []
