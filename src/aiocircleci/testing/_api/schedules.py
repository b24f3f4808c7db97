"""Schedules of a project.

Only projects of GitHub (OAuth) and Bitbucket organizations have schedules; the
others use triggers, and creating a schedule there is refused, as the spec says.
A schedule of a project that no longer exists is gone with it.
"""

from __future__ import annotations

import random
from typing import Any, Literal

import msgspec

from .._entities import Project, User
from .._world import World
from ._core import ApiCall, ApiError, ApiRoute, Reply, iso
from .organizations import random_uuid

__all__ = ["ROUTES", "Schedules"]

Day = Literal["MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"]
MonthName = Literal[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"
]
Param = int | str | bool


class Timetable(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, rename="kebab"):
    per_hour: int
    hours_of_day: tuple[int, ...]
    days_of_week: tuple[str, ...] | None = None
    days_of_month: tuple[int, ...] | None = None
    months: tuple[str, ...] | None = None


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    project_slug: str
    name: str
    description: str | None
    timetable: Timetable
    actor: User
    parameters: dict[str, Param]
    created_at: float
    updated_at: float


class Schedules:
    """Every schedule by id, in the order they were made."""

    def __init__(self, world: World) -> None:
        self.rng = random.Random(f"world:{world.seed}:schedules")
        self.system = User(
            id=random_uuid(self.rng), login="system-actor", name="Scheduled", avatar_url=None
        )
        self.items: dict[str, Schedule] = {}
        at = world.config.start_time - 30 * 86400.0
        for project in world.projects:
            if project.organization.vcs_type not in ("github", "bitbucket"):
                continue
            self.add(
                project,
                name="nightly",
                description="Full test suite every night.",
                timetable=Timetable(
                    per_hour=1,
                    hours_of_day=(2,),
                    days_of_week=("MON", "TUE", "WED", "THU", "FRI"),
                ),
                actor=self.system,
                parameters={"branch": project.default_branch},
                now=at,
            )
            self.add(
                project,
                name="monthly-report",
                description=None,
                timetable=Timetable(per_hour=1, hours_of_day=(6,), days_of_month=(1, 15)),
                actor=world.user,
                parameters={"branch": project.default_branch, "report": True},
                now=at,
            )

    def add(
        self,
        project: Project,
        *,
        name: str,
        description: str | None,
        timetable: Timetable,
        actor: User,
        parameters: dict[str, Param],
        now: float,
    ) -> Schedule:
        schedule = Schedule(
            id=random_uuid(self.rng),
            project_slug=project.slug,
            name=name,
            description=description,
            timetable=timetable,
            actor=actor,
            parameters=parameters,
            created_at=now,
            updated_at=now,
        )
        self.items[schedule.id] = schedule
        return schedule


def _render(schedule: Schedule) -> dict[str, Any]:
    actor = schedule.actor
    return {
        "id": schedule.id,
        "name": schedule.name,
        "description": schedule.description,
        "project-slug": schedule.project_slug,
        "timetable": msgspec.to_builtins(schedule.timetable),
        "actor": {
            "id": actor.id,
            "login": actor.login,
            "name": actor.name,
            "avatar_url": actor.avatar_url,
        },
        "parameters": schedule.parameters,
        "created-at": iso(schedule.created_at),
        "updated-at": iso(schedule.updated_at),
    }


def _project(call: ApiCall) -> Project:
    try:
        return call.world.project(call.params["project-slug"])
    except KeyError:
        raise ApiError(404, "Project not found.") from None


def _schedule(call: ApiCall) -> Schedule:
    schedule_id = call.uuid_param("schedule-id", "schedule-id")
    found = call.world.state(Schedules).items.get(schedule_id)
    if found is not None:
        try:
            call.world.project(found.project_slug)
        except KeyError:
            found = None
    if found is None:
        raise ApiError(404, "Schedule not found.")
    return found


def _check_timetable(timetable: Timetable) -> Timetable:
    if not 1 <= timetable.per_hour <= 60:
        raise ApiError(400, "timetable.per-hour must be between 1 and 60.")
    if not timetable.hours_of_day or not all(0 <= h <= 23 for h in timetable.hours_of_day):
        raise ApiError(400, "timetable.hours-of-day must list hours between 0 and 23.")
    if bool(timetable.days_of_week) == bool(timetable.days_of_month):
        raise ApiError(400, "timetable needs exactly one of days-of-week and days-of-month.")
    if timetable.days_of_month and not all(1 <= d <= 31 for d in timetable.days_of_month):
        raise ApiError(400, "timetable.days-of-month must list days between 1 and 31.")
    return msgspec.structs.replace(
        timetable,
        days_of_week=timetable.days_of_week or None,
        days_of_month=timetable.days_of_month or None,
        months=timetable.months or None,
    )


def _check_parameters(parameters: dict[str, Param]) -> dict[str, Param]:
    has = [key for key in ("branch", "tag") if isinstance(parameters.get(key), str)]
    if len(has) != 1:
        raise ApiError(400, "parameters must contain either branch or tag.")
    return dict(parameters)


def _check_name(name: str) -> str:
    if not name.strip():
        raise ApiError(400, "name must not be empty.")
    return name


def list_schedules(call: ApiCall) -> Reply:
    """GET /project/{project-slug}/schedule"""
    project = _project(call)
    items = [
        s for s in call.world.state(Schedules).items.values() if s.project_slug == project.slug
    ]
    return Reply(call.page(items, f"schedules:{project.slug}", render=_render))


class _NewTimetable(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    per_hour: int
    hours_of_day: tuple[int, ...]
    days_of_week: tuple[Day, ...] | None = None
    days_of_month: tuple[int, ...] | None = None
    months: tuple[MonthName, ...] | None = None


class _NewSchedule(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    name: str
    timetable: _NewTimetable
    attribution_actor: Literal["current", "system"]
    parameters: dict[str, Param]
    description: str | None = None


def _actor(call: ApiCall, attribution: str) -> User:
    return call.world.user if attribution == "current" else call.world.state(Schedules).system


def create_schedule(call: ApiCall) -> Reply:
    """POST /project/{project-slug}/schedule"""
    project = _project(call)
    if project.organization.vcs_type not in ("github", "bitbucket"):
        raise ApiError(
            400,
            "Schedules are only available to GitHub OAuth and Bitbucket projects; use triggers.",
        )
    body = call.json(_NewSchedule)
    schedule = call.world.state(Schedules).add(
        project,
        name=_check_name(body.name),
        description=body.description,
        timetable=_check_timetable(msgspec.convert(msgspec.to_builtins(body.timetable), Timetable)),
        actor=_actor(call, body.attribution_actor),
        parameters=_check_parameters(body.parameters),
        now=call.now,
    )
    return Reply(_render(schedule), 201)


def get_schedule(call: ApiCall) -> Reply:
    """GET /schedule/{schedule-id}"""
    return Reply(_render(_schedule(call)))


class _TimetableChanges(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    per_hour: int | None = None
    hours_of_day: tuple[int, ...] | None = None
    days_of_week: tuple[Day, ...] | None = None
    days_of_month: tuple[int, ...] | None = None
    months: tuple[MonthName, ...] | None = None


class _ScheduleChanges(msgspec.Struct, forbid_unknown_fields=True, rename="kebab"):
    name: str | None = None
    description: str | None = None
    timetable: _TimetableChanges | None = None
    attribution_actor: Literal["current", "system"] | None = None
    parameters: dict[str, Param] | None = None


def update_schedule(call: ApiCall) -> Reply:
    """PATCH /schedule/{schedule-id}"""
    schedule = _schedule(call)
    body = call.json(_ScheduleChanges)
    changes: dict[str, Any] = {"updated_at": call.now}
    if body.name is not None:
        changes["name"] = _check_name(body.name)
    if body.description is not None:
        changes["description"] = body.description
    if body.timetable is not None:
        given = {
            key: value
            for key, value in msgspec.to_builtins(body.timetable).items()
            if value is not None
        }
        # Giving one kind of days replaces the other kind.
        if "days-of-week" in given or "days-of-month" in given:
            current = msgspec.to_builtins(schedule.timetable)
            current.pop("days-of-week", None)
            current.pop("days-of-month", None)
        else:
            current = msgspec.to_builtins(schedule.timetable)
        merged = msgspec.convert({**current, **given}, Timetable)
        changes["timetable"] = _check_timetable(merged)
    if body.attribution_actor is not None:
        changes["actor"] = _actor(call, body.attribution_actor)
    if body.parameters is not None:
        changes["parameters"] = _check_parameters(body.parameters)
    updated = msgspec.structs.replace(schedule, **changes)
    call.world.state(Schedules).items[updated.id] = updated
    return Reply(_render(updated))


def delete_schedule(call: ApiCall) -> Reply:
    """DELETE /schedule/{schedule-id}"""
    schedule = _schedule(call)
    del call.world.state(Schedules).items[schedule.id]
    return Reply({"message": "Schedule deleted."})


ROUTES = (
    ApiRoute("GET", "/project/{project-slug}/schedule", "listSchedulesForProject", list_schedules),
    ApiRoute("POST", "/project/{project-slug}/schedule", "createSchedule", create_schedule),
    ApiRoute("GET", "/schedule/{schedule-id}", "getScheduleById", get_schedule),
    ApiRoute("PATCH", "/schedule/{schedule-id}", "updateSchedule", update_schedule),
    ApiRoute("DELETE", "/schedule/{schedule-id}", "deleteScheduleById", delete_schedule),
)
