"""One trial: a workspace command run once on a commit's tree, on a leased slot.

Every run conductor makes goes through `Trials.run`: a pane's experiment, its baseline,
the noise-floor and verification re-runs, and `conductor verify`. So each one gets the same
slot lease (released at once), the same environment (no secrets, the slot's devices, the
seed and budget), a pid file and an environment tag (so a later conductor can kill what a
`kill -9`'d one left running), a log file and the parsed summary block. How the process is
started is the runner's business (core/runner.py): here, only what every runner shares.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from conductor.config import WorkspaceConfig
from conductor.core.experiment import experiment_env, reap_pidfile
from conductor.core.node_setup import SetupFailed, SetupRequest, failure_line, setup_key
from conductor.core.rundir import RunDir
from conductor.core.runner import Runner, SetsUpMachines, SlotLost, Trial, TrialResult
from conductor.core.secrets import Redactor, SecretNames
from conductor.core.slots import Slot, SlotPool
from conductor.core.summary import metric_from
from conductor.errors import ConductorError


def with_metric(result: TrialResult, metric_name: str) -> TrialResult:
    """The result with its summary block's metric read out (a runner reports the raw summary)."""
    return TrialResult(**{**asdict(result), "metric": metric_from(result.summary, metric_name)})


class Trials:
    """Runs trials on the orchestra's slots (or a standalone one) through one runner."""

    def __init__(
        self,
        pool: SlotPool,
        runner: Runner,
        base_env: dict[str, str],
        run_dir: Path,
        pid_dir: Path,
        secret_names: SecretNames | None = None,
    ):
        self.pool = pool
        self.runner = runner
        self.base_env = base_env
        self.secret_names = secret_names or SecretNames()
        self.run_dir = run_dir
        self.pid_dir = pid_dir
        # (trial, slot, why): an attempt was interrupted by its slot's loss (the orchestra alerts)
        self.on_interrupted: Callable[[Trial, Slot, str], None] | None = None
        self.on_machine_failed: Callable[[str], None] | None = None  # one line (the orchestra alerts)
        self.setups = Setups(runner, RunDir(run_dir).setup_dir, Redactor(base_env, self.secret_names))

    def pidfile(self, trial: Trial) -> Path:
        if trial.kind == "experiment":
            return self.pid_dir / f"{trial.pane}.pid"  # reaped by the pane when it starts again
        return self.pid_dir / f"{trial.pane}.{trial.kind}.{trial.seq}.{trial.seed}.pid"

    def env(self, trial: Trial, slot: Slot) -> dict[str, str]:
        return experiment_env(
            self.base_env,
            slot.env,
            {
                "CONDUCTOR_SEED": str(trial.seed),
                "TIME_BUDGET": f"{trial.time_budget_s:g}",
                "CONDUCTOR_PANE": trial.pane,
                "CONDUCTOR_RUN_DIR": str(self.run_dir),
            },
            self.secret_names,
        )

    async def run(
        self,
        trial: Trial,
        *,
        holder: str | None = None,
        on_slot: Callable[[Slot, float], None] | None = None,
        on_pid: Callable[[int | None], None] | None = None,
        after_run: Callable[[], None] | None = None,
    ) -> TrialResult:
        """Wait for a slot (queued as `holder`), run the trial on it, release the slot at once.
        `on_slot(slot, started_at)` fires when the slot is granted, `on_pid` with the process id
        (and None when it ends); `after_run` (blocking, in a thread) before the slot is released,
        so what it checks is this trial's doing alone. A slot lost mid-run (its node died) is
        retired with its node's other slots, the attempt's log is kept beside the trial's, and
        the trial runs again on another slot: one trial, one result, however many attempts."""
        for attempt in range(1, MAX_LOST_ATTEMPTS + 1):
            slot = await self.pool.acquire(holder or trial.pane)
            try:
                env = self.env(trial, slot)
                await self.setups.ensure(trial, slot, env)
                if on_slot is not None:
                    on_slot(slot, time.time())
                self.pid_dir.mkdir(parents=True, exist_ok=True)
                result = await self.runner.run(
                    trial,
                    slot,
                    env,
                    pidfile=self.pidfile(trial),
                    tag=f"{self.run_dir}:{trial.tag}",
                    on_start=on_pid,
                )
                if after_run is not None:
                    await asyncio.to_thread(after_run)
            except SetupFailed as failed:
                if not failed.node:
                    raise ConductorError(f"setup failed on this machine: {failed.why}") from None
                gone = {s.name for s in self.pool.slots if s.node == failed.node}
                self.pool.retire(gone)
                if gone and self.on_machine_failed is not None:
                    self.on_machine_failed(
                        f"setup failed on Ray node {failed.where}: {failed.why}; "
                        f"its slot(s) {', '.join(sorted(gone))} leave the pool"
                    )
                continue
            except SlotLost as lost:
                kept = _keep_attempt_log(trial.log_path, attempt)
                gone = {s.name for s in self.pool.slots if s.node and s.node == lost.slot.node}
                self.pool.retire(gone | {lost.slot.name})
                if self.on_interrupted is not None:
                    self.on_interrupted(trial, lost.slot, f"{lost.why}; its log: {kept}")
                continue
            finally:
                if on_pid is not None:
                    on_pid(None)
                self.pool.release(slot)
            return with_metric(result, trial.metric)
        now = time.time()
        trial.log_path.write_text(f"[conductor: {MAX_LOST_ATTEMPTS} attempts lost their node; not run again]\n")
        return TrialResult(None, False, now, now, str(trial.log_path), "", trial.seed)


MAX_LOST_ATTEMPTS = 3  # a trial whose node dies under it this often is recorded as a crash


class Setups:
    """The workspace's setup command, once per machine and setup key (core/node_setup.py):
    trials on one machine wait for the one setup there; a marker under `state_dir` keeps a
    success across restarts, a failure is remembered for the run (it raises `SetupFailed`
    for every later trial on that machine)."""

    def __init__(self, runner: Runner, state_dir: Path, redactor: Redactor):
        self.runner = runner
        self.state_dir = state_dir
        self.redactor = redactor
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._failed: dict[tuple[str, str], str] = {}

    async def ensure(self, trial: Trial, slot: Slot, env: dict[str, str]) -> None:
        if not trial.setup:
            return
        key = await asyncio.to_thread(setup_key, trial.cwd, trial.commit, trial.setup, trial.protected)
        machine = (slot.node, key)
        where = slot.name.rsplit(":", 1)[0] if slot.node else "this machine"
        name = f"{slot.node or 'local'}-{key}"
        async with self._locks.setdefault(machine, asyncio.Lock()):
            if machine in self._failed:
                raise SetupFailed(slot.node, where, self._failed[machine])
            marker = self.state_dir / f"{name}.ok"
            if marker.exists():
                return
            if not isinstance(self.runner, SetsUpMachines):
                raise SetupFailed(slot.node, where, "this runner cannot run a setup command")
            self.state_dir.mkdir(parents=True, exist_ok=True)
            request = SetupRequest(trial.setup, key, trial.commit, trial.cwd, trial.setup_timeout_s)
            result = await self.runner.run_setup(request, slot, env, self.state_dir / key)
            log = self.state_dir / f"{name}.log"
            log.write_text(self.redactor(result.output))
            if result.ok:
                marker.write_text(f"{trial.setup}\n")
                return
            self._failed[machine] = f"{failure_line(result, trial.setup, trial.setup_timeout_s)} (log: {log})"
            raise SetupFailed(slot.node, where, self._failed[machine])


def _keep_attempt_log(log_path: Path, attempt: int) -> Path:
    """The interrupted attempt's log, moved beside the trial's (which the next attempt writes)."""
    kept = log_path.with_name(f"{log_path.stem}.lost{attempt}{log_path.suffix}")
    if log_path.exists():
        log_path.replace(kept)
    return kept


def reap_verify_pidfiles(pid_dir: Path) -> int:
    """Kill `conductor verify` re-runs that a killed conductor left running (panes reap their own)."""
    return sum(reap_pidfile(path) for path in pid_dir.glob("*.verify.*.pid"))


def workspace_trial(
    ws: WorkspaceConfig,
    *,
    pane: str,
    seq: int,
    seed: int,
    commit: str,
    cwd: Path,
    log_path: Path,
    kind: str = "experiment",
) -> Trial:
    """A run of the workspace's command, with everything the workspace says about it: its
    metric, budget and timeout, and what a sandbox lets it touch."""
    return Trial(
        pane=pane,
        seq=seq,
        seed=seed,
        commit=commit,
        command=ws.run,
        cwd=cwd,
        log_path=log_path,
        metric=ws.metric,
        time_budget_s=ws.time_budget_s,
        timeout_s=ws.timeout_s,
        kind=kind,
        protected=ws.protected,
        data=tuple((str((ws.path / Path(p).expanduser()).resolve()), w) for p, w in ws.data),
        network=ws.network,
        max_log_bytes=int(ws.max_log_mb * 2**20),
        setup=ws.setup,
        setup_timeout_s=ws.setup_timeout_s,
    )
