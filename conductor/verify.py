"""`conductor verify PANE COMMIT [--runs N]`: re-run a recorded commit and print the spread.

The commit is checked out in a throwaway worktree of the pane's repo (the pane's own
worktree is never touched), run N times with different `CONDUCTOR_SEED`s, and each run is
stored in the ledger's `reruns` table. When an orchestra is running on the run dir, the runs
go through its control socket and queue for its slots like any experiment (a re-run never
competes with the loops for a GPU); otherwise they run here on the config's first slot.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
from pathlib import Path

from conductor.config import load_config
from conductor.core.control_client import request
from conductor.core.ledger import Ledger
from conductor.core.orchestra import build_slots, choose_runner
from conductor.core.rerun import rerun
from conductor.core.rundir import RunDir
from conductor.core.runner import TrialResult
from conductor.core.secrets import SecretNames
from conductor.core.slots import SlotPool
from conductor.core.trial import Trials
from conductor.core.workspace import add_throwaway_worktree, remove_throwaway_worktree
from conductor.detach import live_orchestra
from conductor.errors import ConductorError


def _find_commit(ledger: Ledger, pane: str, commit: str) -> str:
    matches = {r.commit for r in ledger.experiments(pane) if r.commit.startswith(commit)}
    if not matches:
        raise ConductorError(f"pane '{pane}' has no recorded experiment with commit {commit}")
    if len(matches) > 1:
        raise ConductorError(f"commit {commit} is ambiguous in pane '{pane}': give more characters")
    return matches.pop()


def _standalone(cfg, spec, full: str, worktree: Path, layout: RunDir, runs: int) -> list[TrialResult]:
    """No orchestra: the runs go one after another on the config's first slot."""
    pool = SlotPool(build_slots(cfg)[0][:1])
    runner, _ = choose_runner(cfg, layout)  # re-runs of an agent's code are sandboxed as its experiments were
    trials = Trials(pool, runner, dict(os.environ), layout.root, layout.pid_dir, SecretNames(cfg.secret_names))

    def show(i: int, r: TrialResult) -> None:
        _print_run(i, runs, spec.workspace.metric, r)

    log_dir = layout.log_dir(spec.name)
    return asyncio.run(rerun(trials, spec.name, spec.workspace, full, worktree, log_dir, runs, show))


def _through_orchestra(run_dir: Path, spec, full: str, worktree: Path, runs: int) -> list[TrialResult]:
    print("an orchestra is running on this run dir: the runs queue for its slots", flush=True)
    response = request(
        run_dir,
        {"type": "verify", "pane": spec.name, "commit": full, "runs": runs, "worktree": str(worktree)},
        timeout=None,
    )
    results = [TrialResult.from_dict(r) for r in response["results"]]
    for i, r in enumerate(results):
        _print_run(i, runs, spec.workspace.metric, r)
    return results


def _print_run(i: int, runs: int, metric: str, r: TrialResult) -> None:
    print(f"  run {i + 1}/{runs} seed {r.seed}: {metric} {r.shown()} on {r.slot}", flush=True)


def cmd_verify(run_dir: Path, pane: str, commit: str, runs: int) -> int:
    if runs < 1:
        raise ConductorError("--runs must be at least 1")
    layout = RunDir(run_dir)
    saved = layout.config
    if not saved.is_file():
        raise ConductorError(f"no run found in {run_dir}")
    cfg = load_config(saved)
    spec = next((p for p in cfg.panes if p.name == pane), None)
    if spec is None:
        raise ConductorError(f"no pane named '{pane}' in {run_dir} (panes: {', '.join(p.name for p in cfg.panes)})")
    ledger = Ledger(layout.ledger)
    try:
        full = _find_commit(ledger, pane, commit)
        recorded = [r.metric for r in ledger.experiments(pane) if r.commit == full and r.metric is not None]
        pane_wt = Path(ledger.pane(pane).worktree)
        tmp = layout.verify_dir / f"{pane}-{full[:7]}-{os.getpid()}"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        add_throwaway_worktree(pane_wt, tmp, full)
        try:
            print(f"re-running {pane} {full[:7]} {runs} time(s) ({spec.workspace.run})")
            if live_orchestra(run_dir):
                results = _through_orchestra(run_dir, spec, full, tmp, runs)
            else:
                results = _standalone(cfg, spec, full, tmp, layout, runs)
        finally:
            remove_throwaway_worktree(pane_wt, tmp)
            shutil.rmtree(tmp, ignore_errors=True)
        for r in results:
            ledger.record_rerun(pane, full, r.seed, r.value, r.log_path)
    finally:
        ledger.close()
    values = [r.value for r in results if r.value is not None]
    crashes = len(results) - len(values)
    line = f"{spec.workspace.metric}: "
    if values:
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        line += f"mean {mean:.6f}, sd {sd:.6f}, min {min(values):.6f}, max {max(values):.6f} over {len(values)} run(s)"
    else:
        line += "no successful run"
    if crashes:
        line += f", {crashes} crash(es)"
    if recorded:
        line += f"; recorded {recorded[-1]:.6f}"
    print(line)
    return 0 if values else 1
