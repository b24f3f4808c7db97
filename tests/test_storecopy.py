"""The memory budget that all uploads of a process share."""

from __future__ import annotations

import anyio
import pytest

from aiocircleci._storecopy import MemoryBudget


@pytest.mark.anyio
async def test_uploads_past_the_shared_budget_wait_for_one_to_finish() -> None:
    budget = MemoryBudget(100)
    order: list[str] = []
    first_in, release_first = anyio.Event(), anyio.Event()

    async def first() -> None:
        async with budget.hold(60):
            order.append("first in")
            first_in.set()
            await release_first.wait()
        order.append("first out")

    async def second() -> None:
        await first_in.wait()
        async with budget.hold(60):
            order.append("second in")
            assert budget.free == 40

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        tg.start_soon(second)
        await first_in.wait()
        await anyio.wait_all_tasks_blocked()
        assert order == ["first in"]  # 60 + 60 > 100: the second waits
        release_first.set()
    assert order == ["first in", "first out", "second in"]
    assert budget.free == 100


@pytest.mark.anyio
async def test_a_share_larger_than_the_budget_takes_the_whole_budget_and_a_cancel_returns_it() -> (
    None
):
    budget = MemoryBudget(100)
    with anyio.move_on_after(0.05):
        async with budget.hold(10_000):
            assert budget.free == 0
            await anyio.sleep(1)
    assert budget.free == 100
