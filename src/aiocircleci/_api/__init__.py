"""The API, one module per area; ``Client`` inherits every area's methods."""

from .insights import InsightsAPI
from .job import JobAPI
from .pipeline import PipelineAPI
from .project import ProjectAPI
from .user import UserAPI
from .workflow import WorkflowAPI

__all__ = ["InsightsAPI", "JobAPI", "PipelineAPI", "ProjectAPI", "UserAPI", "WorkflowAPI"]
