"""Cost of keeping agent activity in the ledger at a chatty rate, measured inside a running
orchestra: 10 panes, each agent writing 100 lines/s (the TUI load bench's rate, far above a
real agent's) while it runs an experiment every second or so on 2 slots, for N seconds.

Reports the once-a-second flushes and the trims (timed where the ledger runs them, in the
orchestra's worker threads), the worst event-loop lag while they ran (a 10 ms sleep that
woke late: what a hand-off or a TUI frame would have waited), and the ledger's size, which
must stay bounded.

    python bench/activity_log.py [--seconds 120]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import sqlite3
import statistics
import time
from pathlib import Path

from _common import config, fast_workspace, machine, tmpdir

from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra

LINES_PER_S = 100
TICK_S = 0.01


class ChattyAgent:
    kind = "chatty"

    async def run(self, session) -> None:
        async def chatter():
            for i in itertools.count():
                for k in range(LINES_PER_S // 10):
                    session.activity("text", f"line {i}.{k}: " + "x" * 120)
                await asyncio.sleep(0.1)

        talking = asyncio.create_task(chatter())
        try:
            for i in itertools.count():
                path = Path(session.worktree_path) / "train.py"
                text = "\n".join(
                    f"X = {i % 7}.0" if ln.startswith("X = ") else ln for ln in path.read_text().splitlines()
                )
                path.write_text(text + "\n")
                await session.run_experiment(f"x={i % 7}")
        finally:
            talking.cancel()


def timed(store: list[float], fn):
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            store.append(time.perf_counter() - t0)

    return wrapper


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=120)
    seconds = ap.parse_args().seconds
    flushes: list[float] = []
    trims: list[float] = []
    Ledger.record_activity = timed(flushes, Ledger.record_activity)
    Ledger.trim_activity = timed(trims, Ledger.trim_activity)
    tmp = tmpdir()
    ws = fast_workspace(tmp, 0.5)
    cfg = config(tmp, ws, panes=10, slots=2)
    orch = Orchestra(cfg, agent_factory=lambda _c: ChattyAgent())
    orch.open()
    worst = [0.0]
    lags: list[float] = []
    stop_worst = [0.0]

    async def monitor(lags: list[float], worst: list[float]):
        while True:
            t = time.perf_counter()
            await asyncio.sleep(TICK_S)
            lag = time.perf_counter() - t - TICK_S
            lags.append(lag)
            worst[0] = max(worst[0], lag)

    async def run():
        task = asyncio.create_task(orch.run())
        await asyncio.sleep(5)  # set-up and baselines first
        watching = asyncio.create_task(monitor(lags, worst))
        await asyncio.sleep(seconds)
        watching.cancel()  # the steady state ends here; the stop is timed on its own
        stopping = asyncio.create_task(monitor([], stop_worst))
        orch.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stopping.cancel()

    try:
        asyncio.run(run())
    finally:
        orch.close()
    db_path = orch.run_dir / "ledger.db"
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        rows = db.execute("SELECT count(*) FROM activity").fetchone()[0]
        experiments = db.execute("SELECT count(*) FROM experiments").fetchone()[0]
    size = sum(p.stat().st_size for p in orch.run_dir.glob("ledger.db*")) / 2**20
    print(f"machine: {machine()}")
    print(f"10 panes x {LINES_PER_S} lines/s for {seconds:.0f} s, 2 slots, {experiments} experiments")
    print(
        f"flushes: {len(flushes)}, median {statistics.median(flushes) * 1000:.1f} ms, max {max(flushes) * 1000:.1f} ms;"
        f" trims: {len(trims)}, max {max(trims, default=0.0) * 1000:.1f} ms (both in worker threads)"
    )
    lags.sort()
    print(
        f"event-loop lag meanwhile: p99 {lags[int(len(lags) * 0.99)] * 1000:.1f} ms, worst {worst[0] * 1000:.1f} ms"
        f" (target <= 100 ms); during the stop: worst {stop_worst[0] * 1000:.1f} ms"
    )
    print(f"activity rows kept: {rows}; ledger + WAL {size:.1f} MiB")


if __name__ == "__main__":
    main()
