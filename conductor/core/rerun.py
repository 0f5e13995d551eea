"""Re-run one commit several times with other seeds: the shared part of `conductor verify`,
whether it runs standalone or inside a live orchestra (through its control socket). Each
re-run is a trial like any experiment (core/trial.py): same env, pid file and cleanup."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from conductor.config import WorkspaceConfig
from conductor.core.runner import TrialResult
from conductor.core.trial import Trials, workspace_trial


async def rerun(
    trials: Trials,
    pane: str,
    ws: WorkspaceConfig,
    commit: str,
    worktree: Path,
    log_dir: Path,
    runs: int,
    on_run: Callable[[int, TrialResult], None] | None = None,
) -> list[TrialResult]:
    """Run the workspace command in `worktree` (a checkout of `commit`) `runs` times, seeds
    1..runs, each on a slot of `trials`' pool, queued as `<pane>:verify`."""
    out = []
    run_id = os.getpid() * 1000 + int(time.time()) % 1000  # tells concurrent verifies' pid files apart
    for i in range(runs):
        seed = 1 + i
        log_path = log_dir / f"verify-{int(time.time())}-{seed}.log"
        trial = workspace_trial(
            ws, pane=pane, seq=run_id, seed=seed, commit=commit, cwd=worktree, log_path=log_path, kind="verify"
        )
        out.append(await trials.run(trial, holder=f"{pane}:verify"))
        if on_run is not None:
            on_run(i, out[-1])
    return out
