"""Models of the Context operations."""

from __future__ import annotations

__all__: list[str] = []
