"""Models of the Pipeline Definition operations."""

from __future__ import annotations

__all__: list[str] = []
