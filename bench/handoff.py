"""Slot handoff, two ways: K panes queued on one slot, and one pane per slot (K slots).

Each experiment sleeps 1 s; agents propose instantly. With K panes on one slot the next
experiment is already queued when one ends, so the gap is the slot's hand-over alone; with
one pane per slot the slot waits for its own pane to judge, record, reset and propose again,
so the gap is the whole per-experiment overhead (what a naive bash loop pays too). Reports,
per layout, the slots' busy fraction over the window and the gap between one experiment's
end and the next one's start on the same slot (median, p95). Targets: busy >= 95%, p95 gap
<= 100 ms.

    python bench/handoff.py [--seconds 60] [--panes 4] [--layout both|shared|own]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from _common import config, fast_workspace, machine, median, pct, run_for, tmpdir

from conductor.core.ledger import Ledger


class InstantAgent:
    """Proposes the next experiment at once: a one-constant edit, no thinking."""

    kind = "instant"

    async def run(self, session) -> None:
        for i in itertools.count():
            path = Path(session.worktree_path) / "train.py"
            text = path.read_text()
            text = "\n".join(f"X = {i % 7}.0" if line.startswith("X = ") else line for line in text.splitlines()) + "\n"
            path.write_text(text)
            await session.run_experiment(f"x={i % 7}")


def measure(panes: int, slots: int, seconds: float, sleep: float) -> dict:
    tmp = tmpdir()
    ws = fast_workspace(tmp, sleep)
    cfg = config(tmp, ws, panes=panes, slots=slots)
    orch = run_for(cfg, seconds, lambda _c: InstantAgent())
    ledger = Ledger(orch.run_dir / "ledger.db")
    rows = [r for r in ledger.experiments() if r.slot and "interrupted" not in r.reason]
    ledger.close()
    gaps, busy = [], []
    for slot in sorted({r.slot for r in rows}):
        mine = sorted((r for r in rows if r.slot == slot), key=lambda r: r.started_at)
        window = mine[-1].finished_at - mine[0].started_at  # from the first start: setup excluded
        busy.append(sum(r.duration_s for r in mine) / window)
        gaps += [max(0.0, b.started_at - a.finished_at) * 1000 for a, b in zip(mine, mine[1:], strict=False)]
    return {"experiments": len(rows), "busy": sum(busy) / len(busy), "gaps": gaps}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--panes", type=int, default=4)
    ap.add_argument("--sleep", type=float, default=1.0)
    ap.add_argument("--layout", choices=("both", "shared", "own"), default="both")
    args = ap.parse_args()
    print(f"machine: {machine()}")
    layouts = {"shared": (f"{args.panes} panes on one slot", 1), "own": ("one pane per slot", args.panes)}
    for key, (name, slots) in layouts.items():
        if args.layout not in ("both", key):
            continue
        m = measure(args.panes, slots, args.seconds, args.sleep)
        gaps = m["gaps"]
        print(
            f"{name}: {args.panes} panes, {slots} slot(s), sleep {args.sleep}s, {m['experiments']} experiments;"
            f" busy {m['busy'] * 100:.1f}% (target >= 95%); gap median {median(gaps):.1f} ms,"
            f" p95 {pct(gaps, 0.95):.1f} ms, max {max(gaps):.1f} ms (target p95 <= 100 ms)"
        )


if __name__ == "__main__":
    main()
