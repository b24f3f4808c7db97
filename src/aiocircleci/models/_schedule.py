"""Models of the Schedule operations."""

from __future__ import annotations

from datetime import datetime

from ._base import Model, StatusEnum
from ._user import User

__all__ = ["AttributionActor", "DayOfWeek", "Month", "Schedule", "Timetable"]


class DayOfWeek(StatusEnum):
    MON = "MON"
    TUE = "TUE"
    WED = "WED"
    THU = "THU"
    FRI = "FRI"
    SAT = "SAT"
    SUN = "SUN"
    UNKNOWN = "UNKNOWN"


class Month(StatusEnum):
    JAN = "JAN"
    FEB = "FEB"
    MAR = "MAR"
    APR = "APR"
    MAY = "MAY"
    JUN = "JUN"
    JUL = "JUL"
    AUG = "AUG"
    SEP = "SEP"
    OCT = "OCT"
    NOV = "NOV"
    DEC = "DEC"
    UNKNOWN = "UNKNOWN"


class AttributionActor(StatusEnum):
    """Whom a scheduled pipeline is attributed to: the caller, or CircleCI's system actor."""

    CURRENT = "current"
    SYSTEM = "system"
    UNKNOWN = "unknown"


class Timetable(Model, frozen=True, rename="kebab"):
    """When a schedule fires, in UTC: ``per_hour`` times in each of ``hours_of_day``,
    on ``days_of_week`` or on ``days_of_month`` (one of the two), optionally only in
    ``months``.

    Also the value to pass when creating or updating a schedule.
    """

    per_hour: int | None = None
    hours_of_day: list[int] = []
    days_of_week: list[DayOfWeek] | None = None
    days_of_month: list[int] | None = None
    months: list[Month] | None = None


class Schedule(Model, frozen=True, rename="kebab"):
    """A scheduled pipeline of a project; ``parameters`` carry ``branch`` or ``tag``."""

    id: str
    name: str | None = None
    project_slug: str | None = None
    timetable: Timetable | None = None
    actor: User | None = None
    parameters: dict[str, int | str | bool] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    description: str | None = None
