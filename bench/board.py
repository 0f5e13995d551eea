"""Do panes that learn from each other beat independent ones? 4 panes shared vs 4 independent.

Each repetition runs the real orchestra headless (`conductor run`, the optuna agent) twice
on one workspace with the same total experiments: once with the board's sharing on (one
shared constant-liar TPE study, no repeats, migration after `--migrate-after` experiments
without a keep) and once with it off (each pane its own study, repeats run, no migration).
Repetitions differ by seed: the workspace is named `<name>s<seed>`, and the panes' sampler
seeds derive from their names. Reported per arm: the organisation's best (the best kept
metric of any pane; mean and sd over seeds), experiments until the best first reached the
target (rows in finish order, over the seeds that reached it), exact repeats run and refused,
near repeats flagged, and the moves.

    python bench/board.py --workspace hartmann6 --seeds 5 --experiments 25
    python bench/board.py --workspace tinygpt --seeds 5 --experiments 6 --budget 8 --slots 4
    python bench/board.py --merge a.json b.json   # the table over repetitions run apart
                                                  # (bench/device_board.sh runs seeds at once)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import machine, tmpdir

from conductor.config import bundled_workspaces_dir
from conductor.core.board import Board, migrations
from conductor.core.ledger import Ledger
from conductor.core.record import Status, improvement
from conductor.core.similarity import NEAR_REPEAT, similarity

ARMS = {
    "shared": "share_study = true\nno_repeats = true\nmigrate_after = {migrate}\n",
    "independent": "share_study = false\nno_repeats = false\n",
}
DEFAULT_TARGET = {"hartmann6": ("abs", 0.5), "tinygpt": ("frac", 0.03)}


def run_arm(arm: str, ws: str, seed: int, args) -> dict:
    root = tmpdir() / f"{arm}-{seed}"
    root.mkdir(parents=True)
    budget = f"time_budget_s = {args.budget}\n" if args.budget else ""
    name = f"{ws}s{seed}"
    (root / "conductor.toml").write_text(
        f'[conductor]\nslots = {args.slots}\n\n[[workspace]]\nname = "{name}"\n'
        f'path = "{bundled_workspaces_dir() / ws}"\npanes = {args.panes}\nagent = {{ kind = "optuna" }}\n'
        f"max_experiments = {args.experiments}\n{budget}" + ARMS[arm].format(migrate=args.migrate_after)
    )
    t0 = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(root / "conductor.toml")],
        capture_output=True,
        text=True,
        cwd=root,
    )
    wall = time.time() - t0
    if proc.returncode != 0:
        sys.exit(f"{arm} seed {seed} failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    ledger = Ledger.reader(root / ".conductor")
    try:
        return measure(ledger, name, arm, seed, wall, args)
    finally:
        ledger.close()


def measure(ledger: Ledger, ws: str, arm: str, seed: int, wall: float, args) -> dict:
    goal = ledger.panes()[0].goal
    entries = sorted(Board(ledger, ws).entries(), key=lambda e: e.finished_at)
    kind, value = args.target
    baseline = next(e.metric for e in entries if e.is_baseline and e.metric is not None)
    target = value if kind == "abs" else baseline * (1 - value if goal == "min" else 1 + value)
    best, to_target, seen = None, None, set()
    exact_run = refused = near = 0
    earlier = []
    for n, e in enumerate(entries, 1):
        if e.status == Status.KEEP and e.metric is not None and (best is None or improvement(goal, best, e.metric) > 0):
            best = e.metric
        if to_target is None and best is not None and improvement(goal, target, best) >= 0:
            to_target = n
        if e.status == Status.REJECTED and e.reason.startswith("exact repeat"):
            refused += 1
            continue
        if not e.is_baseline and e.change_key in seen:
            exact_run += 1
        if not e.is_baseline and any(similarity(e.description, d) >= NEAR_REPEAT for p, d in earlier if p != e.pane):
            near += 1
        seen.add(e.change_key)
        if not e.is_baseline:
            earlier.append((e.pane, e.description))
    return {
        "arm": arm,
        "seed": seed,
        "best": best,
        "baseline": baseline,
        "target": target,
        "to_target": to_target,
        "experiments": len(entries),
        "exact_repeats_run": exact_run,
        "repeats_refused": refused,
        "near_repeats": near,
        "moves": len(migrations(ledger)),
        "wall_s": round(wall, 1),
    }


def summary(rows: list[dict]) -> dict:
    bests = [r["best"] for r in rows]
    reached = [r["to_target"] for r in rows if r["to_target"] is not None]
    return {
        "best_mean": statistics.mean(bests),
        "best_sd": statistics.stdev(bests) if len(bests) > 1 else 0.0,
        "reached": f"{len(reached)}/{len(rows)}",
        "to_target_mean": statistics.mean(reached) if reached else None,
        "exact_run": sum(r["exact_repeats_run"] for r in rows),
        "refused": sum(r["repeats_refused"] for r in rows),
        "near": sum(r["near_repeats"] for r in rows),
        "moves": sum(r["moves"] for r in rows),
        "wall_s": sum(r["wall_s"] for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workspace", default="hartmann6")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--panes", type=int, default=4)
    ap.add_argument("--experiments", type=int, default=25, help="per pane, the baseline included")
    ap.add_argument("--slots", type=int, default=2)
    ap.add_argument("--budget", type=float, default=None, help="seconds per experiment (default: the workspace's)")
    ap.add_argument("--migrate-after", type=int, default=4)
    ap.add_argument("--target", type=float, default=None, help="absolute target (default per workspace)")
    ap.add_argument("--json", default=None, metavar="FILE", help="write every repetition's numbers here")
    ap.add_argument("--arms", default=",".join(ARMS), help="which arms to run (comma-separated)")
    ap.add_argument("--merge", nargs="+", default=None, metavar="FILE", help="print the table of these --json files")
    args = ap.parse_args()
    if args.merge:
        rows = [r for f in args.merge for r in merged_rows(Path(f))]
        print(f"{args.workspace}: {len(rows) // len(ARMS)} repetitions from {len(args.merge)} file(s)")
        print_table(rows)
        return
    args.target = (
        ("abs", args.target) if args.target is not None else DEFAULT_TARGET.get(args.workspace, ("frac", 0.02))
    )
    print(f"machine: {machine()}, load {os.getloadavg()[0]:.1f}")
    rows = []
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for arm in args.arms.split(","):
            r = run_arm(arm, args.workspace, seed, args)
            rows.append(r)
            print(json.dumps(r), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    kind, value = args.target
    target = f"{value:g}" if kind == "abs" else f"{value:.0%} better than the baseline"
    print(
        f"\n{args.workspace}: {args.panes} panes x {args.experiments} experiments, {args.seeds} seeds,"
        f" target {target}, load {os.getloadavg()[0]:.1f}"
    )
    print_table(rows)


def merged_rows(path: Path) -> list[dict]:
    """A --json file, or the printed output of a run (a repetition a line, so a run cut short
    still gives the repetitions it finished)."""
    text = path.read_text()
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"arm"')]


def print_table(rows: list[dict]) -> None:
    print(
        "| arm | best mean | best sd | reached target | experiments to target (mean) | exact repeats run |"
        " repeats refused | near repeats | moves | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arm in ARMS:
        s = summary([r for r in rows if r["arm"] == arm])
        to_t = f"{s['to_target_mean']:.1f}" if s["to_target_mean"] is not None else "-"
        print(
            f"| {arm} | {s['best_mean']:.4f} | {s['best_sd']:.4f} | {s['reached']} | {to_t} | {s['exact_run']} |"
            f" {s['refused']} | {s['near']} | {s['moves']} | {s['wall_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
