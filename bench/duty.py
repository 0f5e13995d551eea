"""Slot duty: K panes over S slots, agents that think T s, experiments that take E s.

Reports experiments per hour against the limit min(K/(T+E), S/E), and against the serial
baseline run for real: the same agents and experiments with one pane per slot (S panes on S
slots, what running autoresearch once per GPU gives), whose formula S/(T+E) is printed beside
what it measured. Target: >= 95% of the limit.

    python bench/duty.py [--panes 6] [--slots 2] [--think 2] [--exp 5] [--seconds 180]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
from pathlib import Path

from _common import config, fast_workspace, machine, run_for, tmpdir

from conductor.core.ledger import Ledger


class ThinkingAgent:
    kind = "thinking"

    def __init__(self, think_s: float):
        self.think_s = think_s

    async def run(self, session) -> None:
        for i in itertools.count():
            session.set_state("thinking")
            await asyncio.sleep(self.think_s)
            path = Path(session.worktree_path) / "train.py"
            text = "\n".join(f"X = {i % 5}.0" if ln.startswith("X = ") else ln for ln in path.read_text().splitlines())
            path.write_text(text + "\n")
            await session.run_experiment(f"x={i % 5}")


def after_baselines(run_dir: Path) -> tuple[list, float]:
    """The experiments that started after the last baseline finished, and that window's length."""
    ledger = Ledger(run_dir / "ledger.db")
    try:
        rows = ledger.experiments()
    finally:
        ledger.close()
    tried = [r for r in rows if r.slot and "interrupted" not in r.reason and not r.is_baseline]
    base = [r for r in rows if r.is_baseline]
    start = max(r.finished_at for r in base) if base else min(r.started_at for r in tried)
    done = [r for r in tried if r.started_at >= start]
    return done, max(r.finished_at for r in done) - start


def run_layout(panes: int, slots: int, think: float, exp: float, seconds: float) -> tuple[float, dict, float]:
    """(experiments per hour after the baselines, each slot's busy fraction, window seconds)."""
    tmp = tmpdir()
    ws = fast_workspace(tmp, exp)
    cfg = config(tmp, ws, panes=panes, slots=slots, budget_s=exp, timeout_s=exp * 4 + 30)
    orch = run_for(cfg, seconds, lambda _c: ThinkingAgent(think))
    done, window = after_baselines(orch.run_dir)
    busy = {s: sum(r.duration_s for r in done if r.slot == s) / window for s in sorted({r.slot for r in done})}
    return len(done) / window * 3600, busy, window


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--panes", type=int, default=6)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--think", type=float, default=2.0)
    ap.add_argument("--exp", type=float, default=5.0)
    ap.add_argument("--seconds", type=float, default=180)
    args = ap.parse_args()
    per_hour, busy, window = run_layout(args.panes, args.slots, args.think, args.exp, args.seconds)
    serial, _, serial_window = run_layout(args.slots, args.slots, args.think, args.exp, args.seconds)
    limit = min(args.panes / (args.think + args.exp), args.slots / args.exp) * 3600
    formula = args.slots / (args.think + args.exp) * 3600
    print(f"machine: {machine()}")
    print(
        f"K={args.panes} panes, S={args.slots} slots, think {args.think}s, experiment {args.exp}s, window {window:.0f}s (after baselines)"
    )
    print(
        f"experiments/hour: {per_hour:.0f}; limit {limit:.0f} -> {per_hour / limit * 100:.1f}% of the limit (target >= 95%)"
    )
    print(
        f"serial baseline, run: {args.slots} panes on {args.slots} slots, window {serial_window:.0f}s: {serial:.0f}/hour"
        f" (formula S/(T+E) {formula:.0f}) -> conductor gives {per_hour / serial:.2f}x"
    )
    print("slot duty: " + ", ".join(f"{s} {b * 100:.1f}%" for s, b in busy.items()))


if __name__ == "__main__":
    main()
