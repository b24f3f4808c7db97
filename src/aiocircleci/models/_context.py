"""Models of the Context operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = ["Context", "ContextEnvVar", "ContextRestriction", "RestrictionType"]


class Context(Model, frozen=True):
    """A context: a named set of secrets an organization (or account) owns."""

    id: str
    name: str | None = None
    created_at: datetime | None = None


class ContextEnvVar(Model, frozen=True):
    """An environment variable of a context; the API never shows its value."""

    variable: str | None = None
    context_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class RestrictionType(StatusEnum):
    PROJECT = "project"
    EXPRESSION = "expression"
    GROUP = "group"
    UNKNOWN = "unknown"


class ContextRestriction(Model, frozen=True):
    """Who may use a context: one project, one group, or the runs an expression admits.

    The spec marks every field optional; the answer to a creation has no ``context_id``.
    For a project restriction ``restriction_value`` is the project's id and ``name``
    its name.
    """

    id: str | None = None
    context_id: str | None = None
    restriction_type: RestrictionType | None = None
    restriction_value: str | None = None
    name: str | None = None
    project_id: str | None = None
