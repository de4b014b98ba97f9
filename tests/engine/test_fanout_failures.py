"""A fan-out pass that fails (the database went away) leaves no unretrieved task error."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncGenerator
from types import SimpleNamespace
from typing import Any

import pytest

from notifier.clock import VirtualClock
from notifier.config import Settings
from notifier.domain.messages import ChannelName
from notifier.engine.fanout import FanOut, PlanStats
from notifier.engine.occasions import Occasion
from tests.waiting import GENEROUS


async def test_a_page_write_failing_with_the_next_read_leaves_nothing_unretrieved() -> None:
    fanout = FanOut(None, templates=None, settings=Settings(), clock=VirtualClock())  # type: ignore[arg-type]

    write_failed = asyncio.Event()

    async def pages(_rule: Any, _context: Any) -> AsyncGenerator[list[Any], None]:
        yield [SimpleNamespace(id="c1")]
        await asyncio.wait_for(write_failed.wait(), GENEROUS)  # the page's write fails meanwhile
        raise ConnectionRefusedError("the database went away (reading)")

    async def write(*_args: Any, **_kwargs: Any) -> None:
        write_failed.set()
        raise ConnectionRefusedError("the database went away (writing)")

    fanout._pages = pages  # type: ignore[method-assign]
    fanout._write = write  # type: ignore[method-assign]
    fanout._messages = SimpleNamespace(messages=lambda *args: [])  # type: ignore[assignment]
    unretrieved: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: unretrieved.append(context))
    try:
        rule = SimpleNamespace(name="r", channels=[ChannelName.EMAIL], min_gap=None)
        with pytest.raises(ConnectionRefusedError, match="reading"):
            await fanout._pass(Occasion("e1", 1, "incident", "1"), [rule], {}, PlanStats())  # type: ignore[list-item]
        gc.collect()  # an unretrieved task error is reported when the task is collected
        await asyncio.sleep(0)
    finally:
        loop.set_exception_handler(None)
    assert unretrieved == []
