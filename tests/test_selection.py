"""Time windows and glob filters, pure: a fixed ``now``, no clock, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import msgspec
import pytest

from aiocircleci._selection import Globs, Selection, parse_age, parse_time
from aiocircleci.models import Job, Workflow

NOW = datetime(2025, 6, 8, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", datetime(2025, 6, 1, 12, 0, tzinfo=UTC)),
        ("12h", datetime(2025, 6, 8, 0, 0, tzinfo=UTC)),
        ("1d12h", datetime(2025, 6, 7, 0, 0, tzinfo=UTC)),
        ("90m", datetime(2025, 6, 8, 10, 30, tzinfo=UTC)),
        ("2w", datetime(2025, 5, 25, 12, 0, tzinfo=UTC)),
        (" 30s ", datetime(2025, 6, 8, 11, 59, 30, tzinfo=UTC)),
        ("2025-06-01", datetime(2025, 6, 1, tzinfo=UTC)),
        ("2025-06-01T08:30:00Z", datetime(2025, 6, 1, 8, 30, tzinfo=UTC)),
        ("2025-06-01T08:30:00", datetime(2025, 6, 1, 8, 30, tzinfo=UTC)),
        ("2025-06-01T10:30:00+02:00", datetime(2025, 6, 1, 8, 30, tzinfo=UTC)),
    ],
)
def test_times_read_as_ages_before_now_or_iso_dates_in_utc(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


@pytest.mark.parametrize("text", ["", "7", "7x", "d7", "yesterday", "2025-13-01", "2025/06/01"])
def test_a_bad_time_names_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid time .*7d.*2025-06-01"):
        parse_time(text, now=NOW)


def test_an_age_is_not_a_date() -> None:
    assert parse_age("2025-06-01") is None
    assert parse_age("3h") == timedelta(hours=3)


def test_globs_include_then_exclude_and_star_crosses_directories() -> None:
    globs = Globs(include=("*.xml", "coverage/*"), exclude=("*/skip-*",))
    assert globs.matches("test-results/junit.xml")
    assert globs.matches("coverage/index.html")
    assert not globs.matches("coverage/skip-me.html")
    assert not globs.matches("build/app.tar.gz")
    assert Globs().matches("anything/at/all")
    assert not Globs(exclude=("*",)).matches("x")
    assert Globs(include=("Build",)).matches("Build")
    assert not Globs(("Build",)).matches("build")


def test_relative_windows_count_back_from_the_given_now() -> None:
    selection = Selection(since=timedelta(days=7), until=timedelta(days=1))
    assert selection.window(NOW) == (
        datetime(2025, 6, 1, 12, tzinfo=UTC),
        datetime(2025, 6, 7, 12, tzinfo=UTC),
    )
    naive = Selection(since=datetime(2025, 6, 1))
    assert naive.window(NOW)[0] == datetime(2025, 6, 1, tzinfo=UTC)
    offset = Selection(since=datetime(2025, 6, 1, 2, tzinfo=timezone(timedelta(hours=2))))
    assert offset.window(NOW)[0] == datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"since": datetime(2025, 6, 2), "until": datetime(2025, 6, 1)}, "earlier"),
        ({"workflow_statuses": frozenset({"done"})}, "unknown workflow status 'done'"),
        ({"pipeline_numbers": (0,)}, "start at 1"),
        ({"pipeline_numbers": (3,), "latest": True}, "not both"),
        ({"since": timedelta(days=-1)}, "future"),
    ],
)
def test_contradictory_selections_are_refused_up_front(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Selection(**kwargs)  # type: ignore[arg-type]


def _workflow(name: str, status: str) -> Workflow:
    return msgspec.convert(
        {
            "id": "w",
            "name": name,
            "status": status,
            "created_at": "2025-06-01T00:00:00Z",
            "pipeline_id": "p",
            "pipeline_number": 1,
            "project_slug": "gh/o/r",
            "started_by": "u",
        },
        Workflow,
    )


def _job(name: str, type_: str = "build", number: int | None = 7) -> Job:
    data: dict[str, object] = {
        "id": "j",
        "name": name,
        "type": type_,
        "status": "success",
        "project_slug": "gh/o/r",
    }
    if number is not None:
        data["job_number"] = number
    return msgspec.convert(data, Job)


def test_workflows_by_status_and_name_jobs_by_name_never_approvals_or_unnumbered() -> None:
    selection = Selection(
        workflow_statuses=frozenset({"SUCCESS", "failed"}),
        workflows=Globs(include=("build-*",)),
        jobs=Globs(exclude=("lint",)),
    )
    assert selection.takes_workflow(_workflow("build-and-test", "success"))
    assert selection.takes_workflow(_workflow("build-and-test", "failed"))
    assert not selection.takes_workflow(_workflow("build-and-test", "running"))
    assert not selection.takes_workflow(_workflow("deploy", "success"))
    assert selection.takes_job(_job("unit-tests"))
    assert not selection.takes_job(_job("lint"))
    assert not selection.takes_job(_job("hold", type_="approval", number=9))
    assert not selection.takes_job(_job("build", number=None))
