"""The Pipeline Definition operations of API v2."""

from __future__ import annotations

from ._base import APIBase

__all__ = ["PipelineDefinitionAPI"]


class PipelineDefinitionAPI(APIBase):
    """Pipeline Definition: methods are added here, one per operation of the spec."""
