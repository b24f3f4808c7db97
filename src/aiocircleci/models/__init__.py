"""Typed models of CircleCI API v2 responses: frozen, tolerant msgspec Structs.

Each area of the API keeps its models in its own module; this package exports
all of them.
"""

from __future__ import annotations

from . import (
    _base,
    _context,
    _deploy,
    _groups,
    _insights,
    _job,
    _oidc,
    _organization,
    _otel,
    _pipeline,
    _pipeline_definition,
    _policy,
    _project,
    _rollback,
    _schedule,
    _trigger,
    _usage,
    _user,
    _webhook,
    _workflow,
)
from ._base import *  # noqa: F403
from ._context import *  # noqa: F403
from ._deploy import *  # noqa: F403
from ._groups import *  # noqa: F403
from ._insights import *  # noqa: F403
from ._job import *  # noqa: F403
from ._oidc import *  # noqa: F403
from ._organization import *  # noqa: F403
from ._otel import *  # noqa: F403
from ._pipeline import *  # noqa: F403
from ._pipeline_definition import *  # noqa: F403
from ._policy import *  # noqa: F403
from ._project import *  # noqa: F403
from ._rollback import *  # noqa: F403
from ._schedule import *  # noqa: F403
from ._trigger import *  # noqa: F403
from ._usage import *  # noqa: F403
from ._user import *  # noqa: F403
from ._webhook import *  # noqa: F403
from ._workflow import *  # noqa: F403

__all__ = sorted(
    [
        *_base.__all__,
        *_user.__all__,
        *_project.__all__,
        *_pipeline.__all__,
        *_workflow.__all__,
        *_job.__all__,
        *_insights.__all__,
        *_context.__all__,
        *_schedule.__all__,
        *_webhook.__all__,
        *_organization.__all__,
        *_groups.__all__,
        *_usage.__all__,
        *_otel.__all__,
        *_pipeline_definition.__all__,
        *_trigger.__all__,
        *_rollback.__all__,
        *_deploy.__all__,
        *_oidc.__all__,
        *_policy.__all__,
    ],
    key=lambda name: (0 if name.isupper() else 1 if name[0].isupper() else 2, name),
)
