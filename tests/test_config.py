"""Which event loop the package's own processes run on."""

from __future__ import annotations

import importlib.util

from aiocircleci._config import EVENT_LOOP_ENV, event_loop_options


def test_the_cli_runs_on_uvloop_when_installed_unless_told_asyncio() -> None:
    installed = importlib.util.find_spec("uvloop") is not None
    assert event_loop_options({}) == ({"use_uvloop": True} if installed else {})
    assert event_loop_options({EVENT_LOOP_ENV: "asyncio"}) == {}
    assert event_loop_options({EVENT_LOOP_ENV: " AsyncIO "}) == {}
