"""Models of the Policy Management operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum

__all__ = [
    "BundleDiff",
    "Decision",
    "DecisionLog",
    "DecisionMetadata",
    "DecisionSettings",
    "DecisionStatus",
    "DecisionVcs",
    "Policy",
    "PolicyBundle",
    "PolicyViolation",
]


class DecisionStatus(StatusEnum):
    """The verdict of a policy decision."""

    PASS = "PASS"
    SOFT_FAIL = "SOFT_FAIL"
    HARD_FAIL = "HARD_FAIL"
    ERROR = "ERROR"
    UNKNOWN = "UNKNOWN"


class Policy(Model, frozen=True):
    """One policy document (Rego source) of a policy bundle."""

    name: str
    content: str | None = None
    created_at: datetime | None = None
    created_by: str | None = None


class PolicyBundle(Model, frozen=True):
    """A policy bundle: the policies of an owner in one context, by policy name.

    The API answers a bare JSON object (name → list of policies); the client
    wraps it here. ``policies[name][0]`` is the document of that name.
    """

    policies: dict[str, list[Policy]] = {}


class BundleDiff(Model, frozen=True):
    """The policy names a new bundle creates, deletes and modifies."""

    created: list[str] = []
    deleted: list[str] = []
    modified: list[str] = []


class PolicyViolation(Model, frozen=True):
    """A rule a config broke (the spec's ``Violation``), and why."""

    rule: str | None = None
    reason: str | None = None


class Decision(Model, frozen=True):
    """The outcome of evaluating input against a policy bundle."""

    status: DecisionStatus | None = None
    reason: str | None = None
    enabled_rules: list[str] = []
    hard_failures: list[PolicyViolation] = []
    soft_failures: list[PolicyViolation] = []


class DecisionVcs(Model, frozen=True):
    branch: str | None = None
    origin_repository_url: str | None = None
    release_tag: str | None = None
    target_repository_url: str | None = None


class DecisionMetadata(Model, frozen=True):
    """What a decision was made about: project, build, branch."""

    build_number: int | None = None
    project_id: str | None = None
    ssh_rerun: bool | None = None
    vcs: DecisionVcs | None = None


class DecisionLog(Model, frozen=True):
    """A logged decision; ``policies`` maps each policy name to the hash of its content."""

    id: str
    created_at: datetime | None = None
    decision: Decision | None = None
    metadata: DecisionMetadata | None = None
    policies: dict[str, str] = {}
    time_taken_ms: int | None = None


class DecisionSettings(Model, frozen=True):
    """Whether policy evaluation is enabled for an owner and context."""

    enabled: bool | None = None
