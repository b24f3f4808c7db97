"""Models of the Webhook operations."""

from __future__ import annotations

__all__: list[str] = []
