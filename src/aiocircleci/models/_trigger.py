"""Models of the Trigger operations."""

from __future__ import annotations

__all__: list[str] = []
