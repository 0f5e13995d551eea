"""Slot handoff: 4 panes share 1 slot; each experiment sleeps 1 s; agents propose instantly.

Reports the slot's busy fraction over the window and the gap between one experiment's end
and the next one's start (median, p95). Targets: busy >= 95%, p95 gap <= 100 ms.

    python bench/handoff.py [--seconds 60] [--panes 4]
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--panes", type=int, default=4)
    ap.add_argument("--sleep", type=float, default=1.0)
    args = ap.parse_args()
    tmp = tmpdir()
    ws = fast_workspace(tmp, args.sleep)
    cfg = config(tmp, ws, panes=args.panes, slots=1)
    orch = run_for(cfg, args.seconds, lambda _c: InstantAgent())
    ledger = Ledger(orch.run_dir / "ledger.db")
    rows = [r for r in ledger.experiments() if r.slot and "interrupted" not in r.reason]
    rows.sort(key=lambda r: r.started_at)
    # measure from the first experiment's start to the last one's end (setup excluded)
    window = rows[-1].finished_at - rows[0].started_at
    busy = sum(r.duration_s for r in rows) / window
    gaps = [max(0.0, b.started_at - a.finished_at) * 1000 for a, b in zip(rows, rows[1:], strict=False)]
    print(f"machine: {machine()}")
    print(f"{args.panes} panes, 1 slot, experiment sleep {args.sleep}s, window {window:.1f}s, {len(rows)} experiments")
    print(f"slot busy: {busy * 100:.1f}%   (target >= 95%)")
    print(
        f"handoff gap: median {median(gaps):.1f} ms, p95 {pct(gaps, 0.95):.1f} ms, max {max(gaps):.1f} ms   (target p95 <= 100 ms)"
    )


if __name__ == "__main__":
    main()
