"""The OIDC Token Management operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["OIDCAPI"]


class OIDCAPI(APIBase):
    """OIDC Token Management: methods are added here, one per operation of the spec."""
