"""Per-experiment orchestration overhead on a run with a long history.

Overhead = wall time of `run_experiment` minus the experiment process's own lifetime:
guard (git status + protected hashes), commit, slot lease, judge, ledger, results.tsv,
and the keep-ref + reset of a discard. The run resumed is one bench/scale_build.py makes:
one pane with `--history` experiments already in its ledger (usage rows, activity), its
tried commits under loose refs, its Optuna trials and logs; `--history 0` is a fresh run.
(The branch depth this bench used to vary barely mattered; the length of history did.)
Target: median <= 150 ms.

    python bench/overhead.py [--experiments 40] [--history 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from pathlib import Path

from _common import REPO, config, fast_workspace, machine, median, pct, run_for, tmpdir
from scale_build import build_run

from conductor.config import load_config


class TimingAgent:
    kind = "timing"

    def __init__(self, limit: int, samples: list[float], done: asyncio.Event | None = None):
        self.limit = limit
        self.samples = samples

    async def run(self, session) -> None:
        for i in itertools.count():
            if i >= self.limit:
                await asyncio.Event().wait()
            path = Path(session.worktree_path) / "train.py"
            value = 3.0 - 1.0 / (i + 2) if i % 4 == 0 else -4.0  # one keep in four
            text = "\n".join(f"X = {value}" if ln.startswith("X = ") else ln for ln in path.read_text().splitlines())
            path.write_text(text + "\n")
            t0 = time.perf_counter()
            outcome = await session.run_experiment(f"x={value}")
            self.samples.append((time.perf_counter() - t0 - outcome.duration_s) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--experiments", type=int, default=40)
    ap.add_argument("--history", type=int, default=50_000)
    args = ap.parse_args()
    tmp = tmpdir()
    if args.history:
        cfg_path = build_run(tmp / "run", args.history, 1, REPO)
    else:
        cfg_path = config(tmp, fast_workspace(tmp, 0.0), panes=1, slots=1).source
    cfg = load_config(cfg_path)
    samples: list[float] = []
    run_for(cfg, 5.0 + args.experiments * 0.5, lambda _c: TimingAgent(args.experiments, samples))
    print(f"machine: {machine()}")
    print(f"history: {args.history:,} experiments of one pane in the ledger; {len(samples)} more (1 keep in 4)")
    print(
        f"overhead per experiment: median {median(samples):.1f} ms, p95 {pct(samples, 0.95):.1f} ms   (target median <= 150 ms)"
    )


if __name__ == "__main__":
    main()
