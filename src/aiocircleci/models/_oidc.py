"""Models of the OIDC Token Management operations."""

from __future__ import annotations

__all__: list[str] = []
