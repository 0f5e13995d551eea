"""`conductor verify PANE COMMIT [--runs N]`: re-run a recorded commit and print the spread.

The commit is checked out in a throwaway worktree of the pane's repo (the pane's own
worktree is never touched), run N times with different `CONDUCTOR_SEED`s on a slot of the
run's config, and each run is stored in the ledger's `reruns` table. It runs standalone,
beside a live orchestra if there is one, so on a GPU machine it competes for the GPUs.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import time
from pathlib import Path

from conductor.config import load_config
from conductor.core.experiment import experiment_env, run_process
from conductor.core.ledger import Ledger
from conductor.core.orchestra import build_slots
from conductor.core.summary import metric_from
from conductor.core.workspace import GIT_ENV
from conductor.errors import ConductorError


def _find_commit(ledger: Ledger, pane: str, commit: str) -> str:
    matches = {r.commit for r in ledger.experiments(pane) if r.commit.startswith(commit)}
    if not matches:
        raise ConductorError(f"pane '{pane}' has no recorded experiment with commit {commit}")
    if len(matches) > 1:
        raise ConductorError(f"commit {commit} is ambiguous in pane '{pane}': give more characters")
    return matches.pop()


async def _rerun(
    cfg, pane_spec, worktree: Path, run_dir: Path, runs: int, seed0: int
) -> list[tuple[int, float | None, str]]:
    slots, _ = build_slots(cfg)
    slot = slots[0]
    ws = pane_spec.workspace
    out = []
    for i in range(runs):
        seed = seed0 + i
        env = experiment_env(
            dict(os.environ), slot.env, {"CONDUCTOR_SEED": str(seed), "TIME_BUDGET": f"{ws.time_budget_s:g}"}
        )
        log = run_dir / "logs" / pane_spec.name / f"verify-{int(time.time())}-{seed}.log"
        result = await run_process(ws.run, cwd=worktree, env=env, log_path=log, timeout_s=ws.timeout_s)
        metric = metric_from(result.summary, ws.metric) if result.exit_code == 0 else None
        out.append((seed, metric, str(log)))
        shown = (
            f"{metric:.6f}" if metric is not None else f"crash ({'timeout' if result.timed_out else result.exit_code})"
        )
        print(f"  run {i + 1}/{runs} seed {seed}: {ws.metric} {shown}", flush=True)
    return out


def cmd_verify(run_dir: Path, pane: str, commit: str, runs: int) -> int:
    if runs < 1:
        raise ConductorError("--runs must be at least 1")
    saved = run_dir / "conductor.toml"
    if not saved.is_file():
        raise ConductorError(f"no run found in {run_dir}")
    cfg = load_config(saved)
    spec = next((p for p in cfg.panes if p.name == pane), None)
    if spec is None:
        raise ConductorError(f"no pane named '{pane}' in {run_dir} (panes: {', '.join(p.name for p in cfg.panes)})")
    ledger = Ledger(run_dir / "ledger.db")
    try:
        full = _find_commit(ledger, pane, commit)
        recorded = [r.metric for r in ledger.experiments(pane) if r.commit == full and r.metric is not None]
        pane_wt = Path(ledger.pane(pane).worktree)
        tmp = run_dir / "verify" / f"{pane}-{full[:7]}-{os.getpid()}"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **GIT_ENV}
        import subprocess

        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(tmp), full], cwd=pane_wt, check=True, env=env)
        try:
            print(f"re-running {pane} {full[:7]} {runs} time(s) ({spec.workspace.run})")
            results = asyncio.run(_rerun(cfg, spec, tmp, run_dir, runs, seed0=1))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tmp)], cwd=pane_wt, env=env)
            shutil.rmtree(tmp, ignore_errors=True)
        for seed, metric, log in results:
            ledger.record_rerun(pane, full, seed, metric, log)
    finally:
        ledger.close()
    values = [m for _, m, _ in results if m is not None]
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
