"""The OIDC Token Management operations of API v2."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Literal

from ..models import OIDCClaims
from ._base import APIBase, seg

__all__ = ["OIDCAPI"]

ClaimName = Literal["audience", "ttl"]


def _duration(ttl: str | timedelta) -> str:
    """A ``timedelta`` as the API's duration string (``"90s"``, ``"1500ms"``)."""
    if isinstance(ttl, str):
        return ttl
    milliseconds = round(ttl.total_seconds() * 1000)
    if milliseconds <= 0:
        raise ValueError("ttl must be positive")
    if milliseconds % 1000:
        return f"{milliseconds}ms"
    return f"{milliseconds // 1000}s"


def _patch_body(audience: Sequence[str] | None, ttl: str | timedelta | None) -> dict[str, object]:
    if isinstance(audience, str):
        raise TypeError("audience is a sequence of strings, not one string")
    body: dict[str, object] = {}
    if audience is not None:
        body["audience"] = list(audience)
    if ttl is not None:
        body["ttl"] = _duration(ttl)
    return body


def _claims_param(claims: Sequence[ClaimName]) -> dict[str, str]:
    if isinstance(claims, str) or not claims:
        raise ValueError('claims is a non-empty sequence of "audience" and "ttl"')
    return {"claims": ",".join(claims)}


class OIDCAPI(APIBase):
    """OIDC Token Management: custom claims of the OIDC tokens of orgs and projects."""

    async def get_org_oidc_claims(self, org_id: str) -> OIDCClaims:
        """GET /org/{orgID}/oidc-custom-claims

        The custom OIDC claims of an organization (by id).
        """
        return await self._call("GET", f"/org/{seg(org_id)}/oidc-custom-claims", OIDCClaims)

    async def update_org_oidc_claims(
        self,
        org_id: str,
        *,
        audience: Sequence[str] | None = None,
        ttl: str | timedelta | None = None,
    ) -> OIDCClaims:
        """PATCH /org/{orgID}/oidc-custom-claims

        Set an organization's custom ``audience`` and/or token ``ttl`` (``"1h"`` or a timedelta).
        """
        return await self._call(
            "PATCH",
            f"/org/{seg(org_id)}/oidc-custom-claims",
            OIDCClaims,
            json=_patch_body(audience, ttl),
        )

    async def delete_org_oidc_claims(self, org_id: str, claims: Sequence[ClaimName]) -> OIDCClaims:
        """DELETE /org/{orgID}/oidc-custom-claims

        Remove the named custom claims (``"audience"``, ``"ttl"``) of an organization.
        """
        return await self._call(
            "DELETE",
            f"/org/{seg(org_id)}/oidc-custom-claims",
            OIDCClaims,
            params=_claims_param(claims),
        )

    async def get_project_oidc_claims(self, org_id: str, project_id: str) -> OIDCClaims:
        """GET /org/{orgID}/project/{projectID}/oidc-custom-claims

        The custom OIDC claims of a project of an organization (both by id).
        """
        return await self._call(
            "GET",
            f"/org/{seg(org_id)}/project/{seg(project_id)}/oidc-custom-claims",
            OIDCClaims,
        )

    async def update_project_oidc_claims(
        self,
        org_id: str,
        project_id: str,
        *,
        audience: Sequence[str] | None = None,
        ttl: str | timedelta | None = None,
    ) -> OIDCClaims:
        """PATCH /org/{orgID}/project/{projectID}/oidc-custom-claims

        Set a project's custom ``audience`` and/or token ``ttl`` (``"1h"`` or a timedelta).
        """
        return await self._call(
            "PATCH",
            f"/org/{seg(org_id)}/project/{seg(project_id)}/oidc-custom-claims",
            OIDCClaims,
            json=_patch_body(audience, ttl),
        )

    async def delete_project_oidc_claims(
        self, org_id: str, project_id: str, claims: Sequence[ClaimName]
    ) -> OIDCClaims:
        """DELETE /org/{orgID}/project/{projectID}/oidc-custom-claims

        Remove the named custom claims (``"audience"``, ``"ttl"``) of a project.
        """
        return await self._call(
            "DELETE",
            f"/org/{seg(org_id)}/project/{seg(project_id)}/oidc-custom-claims",
            OIDCClaims,
            params=_claims_param(claims),
        )
