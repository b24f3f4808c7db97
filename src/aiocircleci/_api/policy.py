"""The Policy Management operations of API v2."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from .._pagination import Paginator
from ..models import (
    BundleDiff,
    Decision,
    DecisionLog,
    DecisionSettings,
    DecisionStatus,
    Page,
    Policy,
    PolicyBundle,
)
from ._base import APIBase, seg

__all__ = ["PolicyAPI"]

# Config policies are the only context CircleCI evaluates today.
DEFAULT_POLICY_CONTEXT = "config"

_BUNDLE = dict[str, list[Policy]]


def _utc(moment: datetime) -> str:
    """A time for the query, in UTC with ``Z`` (a naive time is taken to be UTC already)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _owner_path(owner_id: str, context: str) -> str:
    return f"/owner/{seg(owner_id)}/context/{seg(context)}"


class PolicyAPI(APIBase):
    """Policy Management: config policy bundles, decisions and their audit log."""

    async def get_policy_bundle(
        self, owner_id: str, *, context: str = DEFAULT_POLICY_CONTEXT
    ) -> PolicyBundle:
        """GET /owner/{ownerID}/context/{context}/policy-bundle

        The current policy bundle of an owner (an organization id).
        """
        found = await self._call("GET", f"{_owner_path(owner_id, context)}/policy-bundle", _BUNDLE)
        return self._shaped(found, lambda f: PolicyBundle(policies=f))

    async def create_policy_bundle(
        self,
        owner_id: str,
        policies: Mapping[str, str],
        *,
        context: str = DEFAULT_POLICY_CONTEXT,
        dry_run: bool = False,
    ) -> BundleDiff:
        """POST /owner/{ownerID}/context/{context}/policy-bundle

        Replace the policy bundle with ``policies`` (file name → Rego source) and say what
        changed; with ``dry_run`` only say what would change.
        """
        return await self._call(
            "POST",
            f"{_owner_path(owner_id, context)}/policy-bundle",
            BundleDiff,
            params={"dry": True if dry_run else None},
            json={"policies": dict(policies)},
        )

    async def get_policy_document(
        self, owner_id: str, policy_name: str, *, context: str = DEFAULT_POLICY_CONTEXT
    ) -> Policy:
        """GET /owner/{ownerID}/context/{context}/policy-bundle/{policyName}

        One policy of the bundle, by the name its ``policy_name`` rule gives it.
        """
        return await self._call(
            "GET", f"{_owner_path(owner_id, context)}/policy-bundle/{seg(policy_name)}", Policy
        )

    async def make_decision(
        self,
        owner_id: str,
        input: str,
        *,
        metadata: Mapping[str, object] | None = None,
        context: str = DEFAULT_POLICY_CONTEXT,
    ) -> Decision:
        """POST /owner/{ownerID}/context/{context}/decision

        Evaluate ``input`` (a config, as YAML text) against the owner's policies.
        """
        body: dict[str, object] = {"input": input}
        if metadata is not None:
            body["metadata"] = dict(metadata)
        return await self._call(
            "POST", f"{_owner_path(owner_id, context)}/decision", Decision, json=body
        )

    def decision_logs(
        self,
        owner_id: str,
        *,
        context: str = DEFAULT_POLICY_CONTEXT,
        status: DecisionStatus | str | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        branch: str | None = None,
        project_id: str | None = None,
        build_number: int | None = None,
        limit: int | None = None,
    ) -> Paginator[DecisionLog]:
        """GET /owner/{ownerID}/context/{context}/decision

        The owner's decision audit log, newest first. It pages by ``offset``;
        every page is fetched, the filters sent with each (naive times are UTC).
        """
        path = f"{_owner_path(owner_id, context)}/decision"
        filters: dict[str, object] = {
            "status": None if status is None else str(status),
            "after": None if after is None else _utc(after),
            "before": None if before is None else _utc(before),
            "branch": branch,
            "project_id": project_id,
            "build_number": build_number,
        }

        async def fetch(token: str | None) -> Page[DecisionLog]:
            offset = int(token) if token else 0
            items = await self._call(
                "GET",
                path,
                list[DecisionLog],
                params={**filters, "offset": offset or None},
            )
            following = str(offset + len(items)) if items else None
            return Page(items=items, next_page_token=following)

        return Paginator(fetch, limit=limit, what=f"GET {path}")

    async def get_decision_log(
        self, owner_id: str, decision_id: str, *, context: str = DEFAULT_POLICY_CONTEXT
    ) -> DecisionLog:
        """GET /owner/{ownerID}/context/{context}/decision/{decisionID}

        One logged decision by id.
        """
        return await self._call(
            "GET", f"{_owner_path(owner_id, context)}/decision/{seg(decision_id)}", DecisionLog
        )

    async def get_decision_log_policy_bundle(
        self, owner_id: str, decision_id: str, *, context: str = DEFAULT_POLICY_CONTEXT
    ) -> PolicyBundle:
        """GET /owner/{ownerID}/context/{context}/decision/{decisionID}/policy-bundle

        The policy bundle as it was when a logged decision was made.
        """
        found = await self._call(
            "GET",
            f"{_owner_path(owner_id, context)}/decision/{seg(decision_id)}/policy-bundle",
            _BUNDLE,
        )
        return self._shaped(found, lambda f: PolicyBundle(policies=f))

    async def get_decision_settings(
        self, owner_id: str, *, context: str = DEFAULT_POLICY_CONTEXT
    ) -> DecisionSettings:
        """GET /owner/{ownerID}/context/{context}/decision/settings

        Whether policy evaluation is enabled for the owner.
        """
        return await self._call(
            "GET", f"{_owner_path(owner_id, context)}/decision/settings", DecisionSettings
        )

    async def set_decision_settings(
        self, owner_id: str, *, enabled: bool, context: str = DEFAULT_POLICY_CONTEXT
    ) -> DecisionSettings:
        """PATCH /owner/{ownerID}/context/{context}/decision/settings

        Enable or disable policy evaluation for the owner.
        """
        return await self._call(
            "PATCH",
            f"{_owner_path(owner_id, context)}/decision/settings",
            DecisionSettings,
            json={"enabled": enabled},
        )
