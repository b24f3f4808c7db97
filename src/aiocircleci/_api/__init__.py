"""The API, one module per area of the spec; ``Operations`` gathers every area's methods.

``Client`` and its raw view (``Client.raw``) both inherit ``Operations``.
"""

from .context import ContextAPI
from .deploy import DeployAPI
from .groups import GroupsAPI
from .insights import InsightsAPI
from .job import JobAPI
from .oidc import OIDCAPI
from .organization import OrganizationAPI
from .otel import OTelAPI
from .pipeline import PipelineAPI
from .pipeline_definition import PipelineDefinitionAPI
from .policy import PolicyAPI
from .project import ProjectAPI
from .rollback import RollbackAPI
from .schedule import ScheduleAPI
from .trigger import TriggerAPI
from .usage import UsageAPI
from .user import UserAPI
from .webhook import WebhookAPI
from .workflow import WorkflowAPI

__all__ = [
    "ContextAPI",
    "Operations",
    "DeployAPI",
    "GroupsAPI",
    "InsightsAPI",
    "JobAPI",
    "OIDCAPI",
    "OTelAPI",
    "OrganizationAPI",
    "PipelineAPI",
    "PipelineDefinitionAPI",
    "PolicyAPI",
    "ProjectAPI",
    "RollbackAPI",
    "ScheduleAPI",
    "TriggerAPI",
    "UsageAPI",
    "UserAPI",
    "WebhookAPI",
    "WorkflowAPI",
]


class Operations(
    UserAPI,
    ProjectAPI,
    PipelineAPI,
    WorkflowAPI,
    JobAPI,
    InsightsAPI,
    ContextAPI,
    ScheduleAPI,
    WebhookAPI,
    OrganizationAPI,
    GroupsAPI,
    UsageAPI,
    OTelAPI,
    PipelineDefinitionAPI,
    TriggerAPI,
    RollbackAPI,
    DeployAPI,
    OIDCAPI,
    PolicyAPI,
):
    """Every operation of API v2, one mixin per area."""
