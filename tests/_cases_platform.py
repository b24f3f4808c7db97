"""Conformance cases of pipeline definitions, triggers, rollbacks, deploys, OIDC claims
and policies."""

from __future__ import annotations

from ._conformance import Case

__all__ = ["ERRORS", "SUCCESS"]

# One success case per operation; changes after reads.
SUCCESS: dict[str, Case] = {}

# Error answers, validated against the status the operation declares (or its default).
ERRORS: list[tuple[str, Case]] = []
