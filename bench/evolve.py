"""Evolved programs against the fixed one: equal experiments, several seeds, side by side.

Each repetition runs two arms of the real orchestra, headless, with the offline Optuna
agent: K panes on the workspace's original program.md ("fixed"), and the same K panes with
`evolve_every = E` ("evolving": every E experiments a pane, a tournament hands the losing
panes a child of the winning variant, conductor/evolve.py). Both arms run the same number of
experiments a pane; each repetition names its workspace differently, so the panes' samplers
are seeded differently. Reported: the best metric any pane reached (mean and sd over the
repetitions), and the improvement per experiment over the baseline.

    python bench/evolve.py --workspace workspaces/hartmann6 [--panes 4] [--experiments 24]
        [--every 6] [--seeds 5] [--budget S]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path

from _common import machine, tmpdir

from conductor.agents.base import create_agent
from conductor.config import load_config
from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra
from conductor.evolve import tournament


def arm(dest: Path, ws: Path, name: str, args, every: int | None) -> tuple[float, float, int]:
    """(best metric, improvement per experiment, experiments) of one arm."""
    dest.mkdir(parents=True)
    cfg_path = dest / "conductor.toml"
    budget = f"time_budget_s = {args.budget:g}\ntimeout_s = {args.budget * 5 + 30:g}\n" if args.budget else ""
    cfg_path.write_text(
        f'[conductor]\ncpu_slots = {args.slots}\nruns_dir = "{dest / "run"}"\n\n[[workspace]]\nname = "{name}"\n'
        f'path = "{ws}"\npanes = {args.panes}\nagent = {{ kind = "optuna" }}\n{budget}'
        + (f"evolve_every = {every}\n" if every else "")
    )
    cfg = load_config(cfg_path)
    orch = Orchestra(cfg, agent_factory=create_agent, max_experiments=args.experiments + 1, evolver=tournament)
    orch.open()
    try:
        asyncio.run(orch.run())
    finally:
        orch.close()
    ledger = Ledger(orch.layout.ledger)
    try:
        rows = ledger.experiments()
    finally:
        ledger.close()
    goal = cfg.workspaces[0].goal
    pick = min if goal == "min" else max
    measured = [r.metric for r in rows if r.metric is not None]
    baseline = next(r.metric for r in rows if r.is_baseline and r.metric is not None)
    best = pick(measured)
    tried = sum(1 for r in rows if not r.is_baseline)
    gain = (baseline - best) if goal == "min" else (best - baseline)
    return best, gain / max(1, tried), tried


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="workspaces/hartmann6")
    ap.add_argument("--panes", type=int, default=4)
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--experiments", type=int, default=24, help="a pane, after its baseline")
    ap.add_argument("--every", type=int, default=6)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=float, default=0, help="time_budget_s (0: the workspace's)")
    args = ap.parse_args()
    ws = Path(args.workspace).resolve()
    tmp = tmpdir()
    results: dict[str, list[tuple[float, float, int]]] = {"fixed": [], "evolving": []}
    for seed in range(args.seeds):
        for label, every in (("fixed", None), ("evolving", args.every)):
            results[label].append(arm(tmp / f"{label}{seed}", ws, f"s{seed}", args, every))
            print(f"seed {seed} {label:>8}: best {results[label][-1][0]:.6g}", flush=True)
    print(machine())
    print(
        f"{ws.name}: {args.panes} panes x {args.experiments} experiments, evolve_every {args.every}, {args.seeds} seeds"
    )
    for label, runs in results.items():
        bests = [b for b, _, _ in runs]
        gains = [g for _, g, _ in runs]
        sd = statistics.stdev(bests) if len(bests) > 1 else 0.0
        print(
            f"{label:>9}: best {statistics.fmean(bests):.6g} +- {sd:.3g} (sd);"
            f" improvement per experiment {statistics.fmean(gains):.4g} +- {statistics.stdev(gains) if len(gains) > 1 else 0:.3g}"
            f" ({runs[0][2]} experiments a run)"
        )


if __name__ == "__main__":
    main()
