"""The Schedule operations of API v2."""

from __future__ import annotations

from collections.abc import Mapping

from .._pagination import Paginator
from .._slug import ProjectSlug
from ..models import AttributionActor, Message, Model, Schedule, Timetable
from ._base import APIBase, seg, slug_path

__all__ = ["ScheduleAPI"]


class _NewSchedule(Model, frozen=True, rename="kebab"):
    name: str
    timetable: Timetable
    attribution_actor: str
    parameters: dict[str, str | int | bool]
    description: str | None = None


class _ScheduleChanges(Model, frozen=True, rename="kebab"):
    name: str | None = None
    description: str | None = None
    timetable: Timetable | None = None
    attribution_actor: str | None = None
    parameters: dict[str, str | int | bool] | None = None


class ScheduleAPI(APIBase):
    """Schedule: pipelines that a project runs on a timetable."""

    def schedules(
        self, slug: str | ProjectSlug, *, limit: int | None = None
    ) -> Paginator[Schedule]:
        """GET /project/{project-slug}/schedule

        The schedules of a project (GitHub OAuth and Bitbucket projects; GitHub App
        and GitLab projects have triggers instead).
        """
        return self._paginate(f"/project/{slug_path(slug)}/schedule", Schedule, limit=limit)

    async def create_schedule(
        self,
        slug: str | ProjectSlug,
        *,
        name: str,
        timetable: Timetable,
        parameters: Mapping[str, str | int | bool],
        attribution_actor: AttributionActor | str = AttributionActor.CURRENT,
        description: str | None = None,
    ) -> Schedule:
        """POST /project/{project-slug}/schedule

        Schedule a pipeline; ``parameters`` must name a ``branch`` or a ``tag``.
        """
        body = _NewSchedule(
            name=name,
            timetable=timetable,
            attribution_actor=str(attribution_actor),
            parameters=dict(parameters),
            description=description,
        )
        return await self._call("POST", f"/project/{slug_path(slug)}/schedule", Schedule, json=body)

    async def get_schedule(self, schedule_id: str) -> Schedule:
        """GET /schedule/{schedule-id}

        A schedule by id.
        """
        return await self._call("GET", f"/schedule/{seg(schedule_id)}", Schedule)

    async def update_schedule(
        self,
        schedule_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        timetable: Timetable | None = None,
        parameters: Mapping[str, str | int | bool] | None = None,
        attribution_actor: AttributionActor | str | None = None,
    ) -> Schedule:
        """PATCH /schedule/{schedule-id}

        Change the given fields of a schedule; ``parameters`` replace the old ones.
        """
        body = _ScheduleChanges(
            name=name,
            description=description,
            timetable=timetable,
            attribution_actor=None if attribution_actor is None else str(attribution_actor),
            parameters=None if parameters is None else dict(parameters),
        )
        return await self._call("PATCH", f"/schedule/{seg(schedule_id)}", Schedule, json=body)

    async def delete_schedule(self, schedule_id: str) -> Message:
        """DELETE /schedule/{schedule-id}

        Delete a schedule; pipelines it already started are not affected.
        """
        return await self._call("DELETE", f"/schedule/{seg(schedule_id)}", Message)
