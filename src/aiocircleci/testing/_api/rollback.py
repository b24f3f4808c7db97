"""Rollbacks of a project."""

from __future__ import annotations

from ._core import ApiRoute

__all__ = ["ROUTES"]

ROUTES: tuple[ApiRoute, ...] = ()
