"""Evolved programs against the fixed one: equal experiments, several seeds, side by side.

Each repetition runs two arms of the real orchestra, headless, with the offline Optuna
agent: K panes on the workspace's original program.md ("fixed"), and the same K panes with
`evolve_every = E` ("evolving": every E experiments a pane, a tournament hands the losing
panes a child of the winning variant, conductor/evolve.py). Both arms run the same number of
experiments a pane; each repetition names its workspace differently, so the panes' samplers
are seeded differently. Reported: the best metric any pane reached (mean and sd over the
repetitions), and the improvement per experiment over the baseline.

    python bench/evolve.py --workspace workspaces/hartmann6 [--panes 4] [--experiments 24]
        [--every 6] [--seeds 5] [--budget S] [--arms fixed,evolving] [--first-seed N]
        [--top F] [--widen W] [--min-importance I]

With ANTHROPIC_API_KEY set (ANTHROPIC_BASE_URL too, for a compatible endpoint) the
tournament's children are written by the model instead (conductor/evolve.py
`_tournament_child`), so the same command measures the LLM evolver.

--top, --widen and --min-importance set the offline evolver's TOP_FRACTION, WIDEN and
MIN_IMPORTANCE (conductor/evolve.py) for this run, to compare evolvers side by side;
bench/device_evolve.sh runs several at once, and --merge prints their table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path

from _common import machine, tmpdir

from conductor import evolve
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
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--budget", type=float, default=0, help="time_budget_s (0: the workspace's)")
    ap.add_argument("--arms", default="fixed,evolving")
    ap.add_argument("--top", type=float, default=evolve.TOP_FRACTION)
    ap.add_argument("--widen", type=float, default=evolve.WIDEN)
    ap.add_argument("--min-importance", type=float, default=evolve.MIN_IMPORTANCE)
    ap.add_argument("--label", default="", help="a name for this evolver in the printed rows")
    ap.add_argument("--merge", nargs="+", default=None, metavar="FILE", help="print the table of these outputs")
    args = ap.parse_args()
    if args.merge:
        print_table(
            [json.loads(ln) for f in args.merge for ln in Path(f).read_text().splitlines() if ln.startswith("{")]
        )
        return
    evolve.TOP_FRACTION, evolve.WIDEN, evolve.MIN_IMPORTANCE = args.top, args.widen, args.min_importance
    ws = Path(args.workspace).resolve()
    tmp = tmpdir()
    print(machine(), flush=True)
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for label in args.arms.split(","):
            every = args.every if label == "evolving" else None
            best, gain, tried = arm(tmp / f"{label}{seed}", ws, f"s{seed}", args, every)
            name = (
                label
                if every is None
                else (args.label or f"evolving top {args.top:g} widen {args.widen:g} every {every}")
            )
            rows.append({"arm": name, "seed": seed, "best": best, "gain": gain, "experiments": tried})
            print(json.dumps(rows[-1]), flush=True)
    print(f"{ws.name}: {args.panes} panes x {args.experiments} experiments, {args.seeds} seeds")
    print_table(rows)


def print_table(rows: list[dict]) -> None:
    for label in dict.fromkeys(r["arm"] for r in rows):
        runs = [r for r in rows if r["arm"] == label]
        bests, gains = [r["best"] for r in runs], [r["gain"] for r in runs]
        sd = statistics.stdev(bests) if len(bests) > 1 else 0.0
        gsd = statistics.stdev(gains) if len(gains) > 1 else 0.0
        print(
            f"{label}: best {statistics.fmean(bests):.6g} +- {sd:.3g} (sd, {len(runs)} seeds);"
            f" improvement per experiment {statistics.fmean(gains):.4g} +- {gsd:.3g} ({runs[0]['experiments']} experiments a run)"
        )


if __name__ == "__main__":
    main()
