"""Scheduled pipelines, through the client and the emulator."""

from __future__ import annotations

import aiohttp
import pytest

from aiocircleci import BadRequest, NotFound
from aiocircleci.models import AttributionActor, DayOfWeek, Month, Timetable
from aiocircleci.testing import FakeCircleCI, Project

from .conftest import emulator_client as emulator
from .conftest import some

pytestmark = pytest.mark.anyio

WEEKDAYS = Timetable(per_hour=2, hours_of_day=[9, 17], days_of_week=[DayOfWeek.MON, DayOfWeek.THU])


def project_of(fake: FakeCircleCI, vcs_type: str) -> Project:
    return next(p for p in fake.world.projects if p.organization.vcs_type == vcs_type)


async def test_a_github_project_lists_its_seeded_schedules_with_typed_timetables() -> None:
    async with emulator() as (fake, client):
        project = project_of(fake, "github")
        schedules = {s.name: s async for s in client.schedules(project.slug)}
        assert set(schedules) == {"nightly", "monthly-report"}
        nightly = schedules["nightly"]
        assert nightly.project_slug == project.slug
        assert some(nightly.timetable).days_of_week == [
            DayOfWeek.MON,
            DayOfWeek.TUE,
            DayOfWeek.WED,
            DayOfWeek.THU,
            DayOfWeek.FRI,
        ]
        assert some(nightly.actor).login == "system-actor"
        assert some(schedules["monthly-report"].timetable).days_of_month == [1, 15]
        assert schedules["monthly-report"].parameters == {"branch": "main", "report": True}
        assert some(schedules["monthly-report"].actor).login == fake.world.user.login


async def test_a_schedule_is_created_listed_updated_and_deleted() -> None:
    async with emulator(page_size=1) as (fake, client):
        project = project_of(fake, "bitbucket")
        created = await client.create_schedule(
            project.slug,
            name="twice a week",
            timetable=WEEKDAYS,
            parameters={"branch": "release/2.3", "deploy": False, "shards": 4},
            description="Mondays and Thursdays",
        )
        assert created.timetable == WEEKDAYS
        assert created.parameters == {"branch": "release/2.3", "deploy": False, "shards": 4}
        assert some(created.actor).id == fake.world.user.id
        assert created.description == "Mondays and Thursdays"
        assert await client.get_schedule(created.id) == created
        # One schedule per page: the listing walks three pages to find all of them.
        listed = [s.id async for s in client.schedules(project.slug)]
        assert len(listed) == 3
        assert listed[-1] == created.id

        monthly = Timetable(
            per_hour=1, hours_of_day=[0], days_of_month=[1], months=[Month.JAN, Month.JUL]
        )
        updated = await client.update_schedule(
            created.id,
            name="twice a year",
            timetable=monthly,
            attribution_actor=AttributionActor.SYSTEM,
        )
        assert updated.name == "twice a year"
        assert updated.timetable == monthly
        assert some(updated.actor).login == "system-actor"
        assert updated.parameters == created.parameters
        assert updated.created_at == created.created_at
        assert some(updated.updated_at) >= some(created.updated_at)
        assert await client.get_schedule(created.id) == updated

        await client.delete_schedule(created.id)
        with pytest.raises(NotFound):
            await client.get_schedule(created.id)
        assert created.id not in [s.id async for s in client.schedules(project.slug)]


async def test_an_update_of_only_the_days_keeps_the_rest_of_the_timetable() -> None:
    async with emulator() as (fake, client):
        project = project_of(fake, "github")
        created = await client.create_schedule(
            project.slug, name="x", timetable=WEEKDAYS, parameters={"tag": "v1"}
        )
        # The spec lets a PATCH carry part of a timetable (the client always sends a
        # whole one); the emulator merges it, other kind of days replaced.
        async with (
            aiohttp.ClientSession() as session,
            session.patch(
                f"{fake.base_url}/schedule/{created.id}",
                json={"timetable": {"days-of-month": [5]}},
                headers={"Circle-Token": fake.token},
            ) as response,
        ):
            assert response.status == 200
        got = await client.get_schedule(created.id)
        assert got.timetable == Timetable(per_hour=2, hours_of_day=[9, 17], days_of_month=[5])


async def test_bad_timetables_and_parameters_are_refused() -> None:
    async with emulator() as (fake, client):
        slug = project_of(fake, "github").slug
        both = Timetable(
            per_hour=1, hours_of_day=[1], days_of_week=[DayOfWeek.SUN], days_of_month=[1]
        )
        too_often = Timetable(per_hour=61, hours_of_day=[1], days_of_week=[DayOfWeek.SUN])
        late = Timetable(per_hour=1, hours_of_day=[24], days_of_week=[DayOfWeek.SUN])
        for timetable in (both, too_often, late):
            with pytest.raises(BadRequest, match="timetable"):
                await client.create_schedule(
                    slug, name="bad", timetable=timetable, parameters={"branch": "main"}
                )
        with pytest.raises(BadRequest, match="branch or tag"):
            await client.create_schedule(
                slug, name="bad", timetable=WEEKDAYS, parameters={"deploy": True}
            )
        with pytest.raises(BadRequest):
            await client.create_schedule(
                slug,
                name="bad",
                timetable=WEEKDAYS,
                parameters={"branch": "main"},
                attribution_actor="someone-else",
            )


async def test_projects_of_standalone_organizations_have_no_schedules_to_create() -> None:
    async with emulator() as (fake, client):
        project = project_of(fake, "circleci")
        assert [s async for s in client.schedules(project.slug)] == []
        with pytest.raises(BadRequest, match="triggers"):
            await client.create_schedule(
                project.slug, name="x", timetable=WEEKDAYS, parameters={"branch": "main"}
            )


async def test_unknown_schedules_and_projects_are_not_found() -> None:
    async with emulator() as (_, client):
        missing = "00000000-0000-4000-8000-000000000000"
        with pytest.raises(NotFound):
            await client.get_schedule(missing)
        with pytest.raises(NotFound):
            await client.update_schedule(missing, name="y")
        with pytest.raises(NotFound):
            await client.delete_schedule(missing)
        with pytest.raises(BadRequest):
            await client.get_schedule("not-a-uuid")
        with pytest.raises(NotFound):
            await client.schedules("gh/nobody/nothing").collect()
