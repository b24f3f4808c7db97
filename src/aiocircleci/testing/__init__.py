"""An embedded CircleCI API v2 emulator, the way moto emulates AWS.

``FakeCircleCI`` serves a deterministic world generated from a seed on three
loopback origins: the API (``base_url``), an artifact host that checks the token
and redirects, and a storage host that serves pre-signed, expiring URLs. It
injects rate limits and network faults on request, and logs every request::

    async with FakeCircleCI(seed=1, config=WorldConfig(projects=2)) as fake:
        project = fake.world.projects[0]
        ...  # point a client at fake.base_url with fake.token

The same server runs from the command line: ``aiocircleci fake-server``.
Fault specs are described in ``aiocircleci.testing._faults``.
"""

from __future__ import annotations

from ._entities import (
    Artifact,
    Context,
    ContextEnvVar,
    Job,
    Organization,
    Pipeline,
    PipelineError,
    Project,
    ProjectEnvVar,
    TestResult,
    User,
    Workflow,
    isoformat,
)
from ._faults import FaultKind, FaultRule, Faults
from ._log import RequestRecord, RouteClass
from ._server import FakeCircleCI, RetryAfterStyle
from ._world import MiB, World, WorldConfig, WorldError

__all__ = [
    "Artifact",
    "Context",
    "ContextEnvVar",
    "FakeCircleCI",
    "FaultKind",
    "FaultRule",
    "Faults",
    "Job",
    "MiB",
    "Organization",
    "Pipeline",
    "PipelineError",
    "Project",
    "ProjectEnvVar",
    "RequestRecord",
    "RetryAfterStyle",
    "RouteClass",
    "TestResult",
    "User",
    "Workflow",
    "World",
    "WorldConfig",
    "WorldError",
    "isoformat",
]
