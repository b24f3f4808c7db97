"""Config policies: policy bundles, decisions, the decision log and its settings.

There is no Rego engine here. A policy document must say ``package org`` and
name itself with ``policy_name["NAME"]``; of the rest the emulator reads only
``enable_rule["RULE"]`` and ``hard_fail["RULE"]`` lines. Enabled rules are
judged by a few built-in checks of the config text, whatever their Rego body
says:

- ``require_version``: the config has no top-level ``version:`` key;
- ``require_workflows``: the config has no top-level ``workflows:`` key;
- ``forbid_latest_images``: an ``image:`` ends in ``:latest`` (one violation each).

Other enabled rules are listed in ``enabled_rules`` and never fail. A broken
rule is a hard failure if a ``hard_fail`` line names it, else a soft one.
Every organization starts with the bundle ``config_basics`` (version required,
hard; latest images, soft), a few logged decisions and evaluation enabled.
While evaluation is disabled, a decision passes with a reason and is not logged.

Errors are ``{"error": ...}`` as the spec says: 400 for an owner id that is
not a UUID, a context other than ``config`` and bad bodies; 403 for an owner
the token cannot see; 404 for unknown policies and decisions. (The spec's 413
for a bundle over 2.5 MiB never comes from here: the server refuses bodies
over 1 MiB before any handler runs.) The decision log pages by ``offset``, the
emulator's page size at a time.
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Handler, Reply, iso

__all__ = ["ROUTES", "SEED_POLICY", "PolicyStore", "error_field", "evaluate", "policy_store"]

_CONTEXTS = ("config",)
_PACKAGE = re.compile(r"^\s*package\s+org\s*$", re.MULTILINE)
_POLICY_NAME = re.compile(r'^\s*policy_name\s*\[\s*"([^"]+)"\s*\]', re.MULTILINE)
_ENABLE = re.compile(r'^\s*enable_rule\s*\[\s*"([^"]+)"\s*\]', re.MULTILINE)
_HARD = re.compile(r'^\s*hard_fail\s*\[\s*"([^"]+)"\s*\]', re.MULTILINE)
_LATEST = re.compile(r"""^\s*-?\s*image:\s*["']?(\S+:latest)["']?\s*$""", re.MULTILINE)

SEED_POLICY = """package org

import future.keywords
import data.circleci.config

policy_name["config_basics"]

enable_rule["require_version"]
hard_fail["require_version"]
enable_rule["forbid_latest_images"]

require_version = "config must declare a version" { not input.version }

forbid_latest_images[reason] {
    some job_name, job in input.jobs
    some image in job.docker
    endswith(image.image, ":latest")
    reason := sprintf("%s uses a :latest image", [job_name])
}
"""


def error_field(handler: Handler) -> Handler:
    """Answer ``ApiError`` as ``{"error": message}``, as Policy and OIDC endpoints do."""

    @functools.wraps(handler)
    def wrapped(call: ApiCall) -> Reply:
        try:
            return handler(call)
        except ApiError as exc:
            return Reply({"error": exc.message}, exc.status)

    return wrapped


def _top_level(config: str, key: str) -> bool:
    return re.search(rf"^{key}\s*:", config, re.MULTILINE) is not None


def _require_version(config: str) -> list[str]:
    return [] if _top_level(config, "version") else ["config must declare a version"]


def _require_workflows(config: str) -> list[str]:
    return [] if _top_level(config, "workflows") else ["config must declare workflows"]


def _forbid_latest_images(config: str) -> list[str]:
    return [f"image {image} uses the latest tag" for image in _LATEST.findall(config)]


_CHECKS = {
    "require_version": _require_version,
    "require_workflows": _require_workflows,
    "forbid_latest_images": _forbid_latest_images,
}


@dataclass(slots=True)
class PolicyDoc:
    name: str
    content: str
    created_at: float
    created_by: str


@dataclass(slots=True)
class DecisionRecord:
    id: str
    created_at: float
    decision: dict[str, Any]
    metadata: dict[str, Any] | None
    bundle: dict[str, PolicyDoc]
    time_taken_ms: int


@dataclass(slots=True)
class OwnerPolicies:
    bundle: dict[str, PolicyDoc] = field(default_factory=dict)
    decisions: list[DecisionRecord] = field(default_factory=list)  # oldest first
    enabled: bool = True


@dataclass(slots=True)
class PolicyStore:
    rng: random.Random
    owners: dict[tuple[str, str], OwnerPolicies] = field(default_factory=dict)

    def new_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def evaluate(bundle: dict[str, PolicyDoc], config: str) -> dict[str, Any]:
    """The decision on ``config`` under ``bundle``, as the API renders it."""
    enabled = sorted({rule for doc in bundle.values() for rule in _ENABLE.findall(doc.content)})
    hard_rules = {rule for doc in bundle.values() for rule in _HARD.findall(doc.content)}
    hard: list[dict[str, str]] = []
    soft: list[dict[str, str]] = []
    for rule in enabled:
        for reason in _CHECKS.get(rule, lambda _config: [])(config):
            (hard if rule in hard_rules else soft).append({"rule": rule, "reason": reason})
    status = "HARD_FAIL" if hard else "SOFT_FAIL" if soft else "PASS"
    decision: dict[str, Any] = {"status": status, "enabled_rules": enabled}
    if hard:
        decision["hard_failures"] = hard
    if soft:
        decision["soft_failures"] = soft
    return decision


_SEED_CONFIGS = (
    ("version: 2.1\nworkflows:\n  main:\n    jobs: [build]\n", "main"),
    (
        "version: 2.1\njobs:\n  build:\n    docker:\n      - image: cimg/node:latest\n",
        "feature/login-form",
    ),
    ("jobs:\n  build:\n    docker:\n      - image: cimg/base:2024.01\n", "develop"),
)


def _seed(world: World) -> PolicyStore:
    state = PolicyStore(rng=random.Random(f"world:{world.seed}:policy"))
    start = world.config.start_time
    for org in world.organizations:
        owner = state.owners[(org.id, "config")] = OwnerPolicies()
        created = start - state.rng.uniform(30, 120) * 86400
        owner.bundle["config_basics"] = PolicyDoc(
            name="config_basics",
            content=SEED_POLICY,
            created_at=created,
            created_by=world.user.id,
        )
        projects = [p for p in world.projects if p.organization.id == org.id]
        for index, (config, branch) in enumerate(_SEED_CONFIGS):
            project = projects[index % len(projects)]
            owner.decisions.append(
                DecisionRecord(
                    id=state.new_id(),
                    created_at=created + (index + 1) * state.rng.uniform(1, 5) * 86400,
                    decision=evaluate(owner.bundle, config),
                    metadata={
                        "project_id": project.id,
                        "build_number": 100 + index,
                        "vcs": {
                            "branch": branch,
                            "origin_repository_url": project.vcs_url,
                            "target_repository_url": project.vcs_url,
                        },
                    },
                    bundle=dict(owner.bundle),
                    time_taken_ms=state.rng.randint(3, 40),
                )
            )
    return state


def policy_store(world: World) -> PolicyStore:
    """The policy store of this world."""
    return world.state(_seed)


def _owner(call: ApiCall) -> OwnerPolicies:
    try:
        owner_id = str(uuid.UUID(call.params["ownerID"]))
    except ValueError:
        raise ApiError(400, "OwnerID: must be a valid UUID.") from None
    context = call.params["context"]
    if context not in _CONTEXTS:
        raise ApiError(400, f"context: must be one of {', '.join(_CONTEXTS)}.")
    if not any(o.id == owner_id for o in call.world.organizations):
        raise ApiError(403, "Forbidden")
    return policy_store(call.world).owners.setdefault((owner_id, context), OwnerPolicies())


def _render_policy(doc: PolicyDoc) -> dict[str, Any]:
    return {
        "name": doc.name,
        "content": doc.content,
        "created_at": iso(doc.created_at),
        "created_by": doc.created_by,
    }


def _render_bundle(bundle: dict[str, PolicyDoc]) -> dict[str, Any]:
    return {name: [_render_policy(bundle[name])] for name in sorted(bundle)}


def _render_decision_log(record: DecisionRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": record.id,
        "created_at": iso(record.created_at),
        "decision": record.decision,
        "policies": {
            name: hashlib.sha512(doc.content.encode()).hexdigest()
            for name, doc in sorted(record.bundle.items())
        },
        "time_taken_ms": record.time_taken_ms,
    }
    if record.metadata is not None:
        body["metadata"] = record.metadata
    return body


class _BundlePayload(msgspec.Struct, forbid_unknown_fields=True):
    policies: dict[str, str] | None = None


@error_field
def get_policy_bundle(call: ApiCall) -> Reply:
    """GET /owner/{ownerID}/context/{context}/policy-bundle"""
    return Reply(_render_bundle(_owner(call).bundle))


@error_field
def create_policy_bundle(call: ApiCall) -> Reply:
    """POST /owner/{ownerID}/context/{context}/policy-bundle"""
    owner = _owner(call)
    payload = call.json(_BundlePayload)
    incoming: dict[str, str] = {}
    for filename, content in sorted((payload.policies or {}).items()):
        if not _PACKAGE.search(content):
            raise ApiError(400, f"failed to parse policy file {filename}: package must be org")
        names = _POLICY_NAME.findall(content)
        if len(names) != 1:
            raise ApiError(
                400, f"failed to parse policy file {filename}: exactly one policy_name is required"
            )
        if names[0] in incoming:
            raise ApiError(400, f"policy name {names[0]!r} is declared twice")
        incoming[names[0]] = content
    current = owner.bundle
    diff = {
        "created": sorted(set(incoming) - set(current)),
        "deleted": sorted(set(current) - set(incoming)),
        "modified": sorted(
            n for n in set(incoming) & set(current) if incoming[n] != current[n].content
        ),
    }
    if call.flag("dry"):
        return Reply(diff)
    owner.bundle = {
        name: current[name]
        if name in current and current[name].content == content
        else PolicyDoc(
            name=name, content=content, created_at=call.now, created_by=call.world.user.id
        )
        for name, content in incoming.items()
    }
    return Reply(diff, status=201)


@error_field
def get_policy_document(call: ApiCall) -> Reply:
    """GET /owner/{ownerID}/context/{context}/policy-bundle/{policyName}"""
    doc = _owner(call).bundle.get(call.params["policyName"])
    if doc is None:
        raise ApiError(404, "policy not found")
    return Reply(_render_policy(doc))


class _Vcs(msgspec.Struct, omit_defaults=True):
    branch: str | None = None
    origin_repository_url: str | None = None
    release_tag: str | None = None
    target_repository_url: str | None = None


class _Metadata(msgspec.Struct, omit_defaults=True):
    build_number: int | None = None
    project_id: uuid.UUID | None = None
    ssh_rerun: bool | None = None
    vcs: _Vcs | None = None


class _DecisionInput(msgspec.Struct, forbid_unknown_fields=True):
    input: str
    metadata: dict[str, Any] | None = None


@error_field
def make_decision(call: ApiCall) -> Reply:
    """POST /owner/{ownerID}/context/{context}/decision"""
    owner = _owner(call)
    body = call.json(_DecisionInput)
    if not body.input.strip():
        raise ApiError(400, "input: must not be empty")
    metadata: dict[str, Any] | None = None
    if body.metadata is not None:
        try:
            known = msgspec.convert(body.metadata, _Metadata)
        except msgspec.ValidationError as exc:
            raise ApiError(400, f"metadata: {exc}") from None
        metadata = msgspec.to_builtins(known)
    if not owner.enabled:
        return Reply({"status": "PASS", "reason": "policy evaluation is disabled"})
    decision = evaluate(owner.bundle, body.input)
    state = policy_store(call.world)
    owner.decisions.append(
        DecisionRecord(
            id=state.new_id(),
            created_at=call.now,
            decision=decision,
            metadata=metadata,
            bundle=dict(owner.bundle),
            time_taken_ms=1 + len(body.input) % 17,
        )
    )
    return Reply(decision)


def _time_query(call: ApiCall, name: str) -> float | None:
    value = call.query.get(name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name}: must be a date-time") from None
    # CircleCI's times are UTC; a time without an offset is read as UTC too.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _matches(record: DecisionRecord, call: ApiCall) -> bool:
    query = call.query
    metadata = record.metadata or {}
    build_number = metadata.get("build_number")
    checks = (
        ("status", record.decision["status"]),
        ("branch", (metadata.get("vcs") or {}).get("branch")),
        ("project_id", metadata.get("project_id")),
        ("build_number", None if build_number is None else str(build_number)),
    )
    return all(name not in query or query[name] == value for name, value in checks)


@error_field
def get_decision_logs(call: ApiCall) -> Reply:
    """GET /owner/{ownerID}/context/{context}/decision"""
    owner = _owner(call)
    after, before = _time_query(call, "after"), _time_query(call, "before")
    offset_text = call.query.get("offset", "0")
    if not offset_text.isdigit():
        raise ApiError(400, "offset: must be a non-negative integer")
    found = [
        record
        for record in reversed(owner.decisions)
        if _matches(record, call)
        and (after is None or record.created_at > after)
        and (before is None or record.created_at < before)
    ]
    # Pages of the emulator's page size: the first page of what follows the offset.
    page = call.page(found[int(offset_text) :], "decision-logs", render=_render_decision_log)
    return Reply(page["items"])


def _decision(call: ApiCall) -> DecisionRecord:
    owner = _owner(call)
    decision_id = call.params["decisionID"]
    for record in owner.decisions:
        if record.id == decision_id:
            return record
    raise ApiError(404, "decision log not found")


@error_field
def get_decision_log(call: ApiCall) -> Reply:
    """GET /owner/{ownerID}/context/{context}/decision/{decisionID}"""
    return Reply(_render_decision_log(_decision(call)))


@error_field
def get_decision_log_policy_bundle(call: ApiCall) -> Reply:
    """GET /owner/{ownerID}/context/{context}/decision/{decisionID}/policy-bundle"""
    return Reply(_render_bundle(_decision(call).bundle))


class _Settings(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | None = None


@error_field
def get_decision_settings(call: ApiCall) -> Reply:
    """GET /owner/{ownerID}/context/{context}/decision/settings"""
    return Reply({"enabled": _owner(call).enabled})


@error_field
def set_decision_settings(call: ApiCall) -> Reply:
    """PATCH /owner/{ownerID}/context/{context}/decision/settings"""
    owner = _owner(call)
    body = call.json(_Settings)
    if body.enabled is not None:
        owner.enabled = body.enabled
    return Reply({"enabled": owner.enabled})


_BASE = "/owner/{ownerID}/context/{context}"

ROUTES: tuple[ApiRoute, ...] = (
    ApiRoute("GET", f"{_BASE}/policy-bundle", "GetPolicyBundle", get_policy_bundle),
    ApiRoute("POST", f"{_BASE}/policy-bundle", "CreatePolicyBundle", create_policy_bundle),
    ApiRoute(
        "GET", f"{_BASE}/policy-bundle/{{policyName}}", "GetPolicyDocument", get_policy_document
    ),
    ApiRoute("POST", f"{_BASE}/decision", "MakeDecision", make_decision),
    ApiRoute("GET", f"{_BASE}/decision", "GetDecisionLogs", get_decision_logs),
    ApiRoute("GET", f"{_BASE}/decision/settings", "GetDecisionSettings", get_decision_settings),
    ApiRoute("PATCH", f"{_BASE}/decision/settings", "SetDecisionSettings", set_decision_settings),
    ApiRoute("GET", f"{_BASE}/decision/{{decisionID}}", "GetDecisionLog", get_decision_log),
    ApiRoute(
        "GET",
        f"{_BASE}/decision/{{decisionID}}/policy-bundle",
        "GetDecisionLogPolicyBundle",
        get_decision_log_policy_bundle,
    ),
)
