"""The OTel operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["OTelAPI"]


class OTelAPI(APIBase):
    """OTel: methods are added here, one per operation of the spec."""
