"""Cost of keeping agent activity in the ledger at a chatty rate: 10 panes x 100 lines/s
(the TUI load bench's rate, far above a real agent's) for N simulated seconds. Reports
the once-a-second flush, the trims, and the ledger's size (it must stay bounded).

    python bench/activity_log.py [--seconds 600]
"""

from __future__ import annotations

import argparse
import contextlib
import sqlite3
import statistics
import time

from _common import machine, tmpdir

from conductor.core.activity_log import KEEP_PER_PANE, TRIM_ROWS, ActivityRecorder
from conductor.core.events import AgentActivity
from conductor.core.ledger import Ledger


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=600)
    seconds = ap.parse_args().seconds
    d = tmpdir()
    ledger = Ledger(d / "ledger.db")
    recorder = ActivityRecorder(ledger)
    line = "x" * 120
    flushes, trims = [], []
    sizes = []
    for sec in range(seconds):
        for i in range(1000):
            recorder(AgentActivity(pane=f"p{i % 10}", kind="text", text=line))
        t0 = time.perf_counter()
        recorder.flush()
        flushes.append(time.perf_counter() - t0)
        if recorder.since_trim > TRIM_ROWS:  # what ActivityRecorder.run does
            t0 = time.perf_counter()
            ledger.trim_activity(KEEP_PER_PANE)
            trims.append(time.perf_counter() - t0)
            recorder.since_trim = 0
        if sec % 60 == 59:
            sizes.append(sum(p.stat().st_size for p in d.glob("ledger.db*")) / 2**20)
    with contextlib.closing(sqlite3.connect(d / "ledger.db")) as db:
        rows = db.execute("SELECT count(*) FROM activity").fetchone()[0]
    size = sum(p.stat().st_size for p in d.glob("ledger.db*")) / 2**20
    print(f"machine: {machine()}")
    print(
        f"flush of 1000 lines: median {statistics.median(flushes) * 1000:.1f} ms, max {max(flushes) * 1000:.1f} ms;"
        f" {len(trims)} trims, max {max(trims) * 1000:.1f} ms"
    )
    print(f"after {seconds * 1000:,} lines: {rows} rows kept, ledger + WAL {size:.1f} MiB")
    print("ledger + WAL each minute (MiB): " + ", ".join(f"{x:.1f}" for x in sizes))
    ledger.close()


if __name__ == "__main__":
    main()
