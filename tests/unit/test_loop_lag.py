"""The orchestra's own loop-lag meter: the worst since the start, the worst of the last minute,
and a real asyncio loop held by a blocking call shows up in it."""

import asyncio
import time

from conductor.core.loop_lag import WINDOW_S, LoopLag


def test_worst_ever_and_worst_of_the_last_minute():
    lag = LoopLag()
    now = 1_000_000.0
    lag.note(0.250, now=now - WINDOW_S - 5)  # a stall long ago
    lag.note(0.040, now=now - 10)
    lag.note(0.001, now=now - 1)  # too small to keep for the window
    assert lag.worst_s == 0.250
    assert lag.recent_worst_s(now=now) == 0.040
    assert lag.ticks == 3


def test_a_blocked_loop_is_measured():
    async def main() -> LoopLag:
        lag = LoopLag()
        meter = asyncio.create_task(lag.run())
        await asyncio.sleep(0.1)
        time.sleep(0.3)  # the loop is held
        await asyncio.sleep(0.1)
        meter.cancel()
        return lag

    lag = asyncio.run(main())
    report = lag.report()
    assert 250 <= report["worst_ms"] <= report["last_minute_ms"] + 0.1
    assert report["ticks"] >= 5
