"""Re-run one commit several times with other seeds: the shared part of `conductor verify`,
whether it runs standalone or inside a live orchestra (through its control socket)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path

from conductor.config import WorkspaceConfig
from conductor.core.experiment import experiment_env, run_process
from conductor.core.slots import Slot
from conductor.core.summary import metric_from

Lease = Callable[[], AbstractAsyncContextManager[Slot]]


@dataclass(frozen=True)
class RunResult:
    seed: int
    metric: float | None  # None: a crash
    log: str
    outcome: str  # the metric as printed, or "crash (timeout)" / "crash (1)"
    slot: str


async def rerun(
    ws: WorkspaceConfig,
    worktree: Path,
    log_dir: Path,
    runs: int,
    seed0: int,
    lease: Lease,
    base_env: dict[str, str],
    on_run: Callable[[int, RunResult], None] | None = None,
) -> list[RunResult]:
    """Run the workspace command in `worktree` `runs` times, seeds seed0..; each run on a slot
    from `lease` (the orchestra's pool, or a fixed slot when standalone)."""
    out = []
    for i in range(runs):
        seed = seed0 + i
        log = log_dir / f"verify-{int(time.time())}-{seed}.log"
        async with lease() as slot:
            env = experiment_env(
                base_env, slot.env, {"CONDUCTOR_SEED": str(seed), "TIME_BUDGET": f"{ws.time_budget_s:g}"}
            )
            result = await run_process(ws.run, cwd=worktree, env=env, log_path=log, timeout_s=ws.timeout_s)
        metric = metric_from(result.summary, ws.metric) if result.exit_code == 0 else None
        metric = metric if metric is not None and metric == metric else None
        shown = (
            f"{metric:.6f}" if metric is not None else f"crash ({'timeout' if result.timed_out else result.exit_code})"
        )
        out.append(RunResult(seed, metric, str(log), shown, slot.name))
        if on_run is not None:
            on_run(i, out[-1])
    return out
