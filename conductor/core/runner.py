"""The runner seam: how a trial's process is started, wherever it runs.

A `Runner` takes a trial, the slot it leased and the environment it gets, runs the command
to completion (or its timeout, or cancellation, which kills it) and reports the raw result.
Everything above it (slot leases, the env, the pid file path and tag, judging, recording)
is the same for every runner, so another way to run a trial (a sandbox around the process,
a node of a Ray cluster) plugs in here without touching the loop.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from conductor.core.experiment import run_process
from conductor.core.gitsafe import run_git_bytes
from conductor.core.logfile import DEFAULT_MAX_LOG_BYTES
from conductor.core.node_setup import SetupRequest, SetupResult, run_setup_in
from conductor.core.secrets import Redactor
from conductor.core.slots import Slot, SlotPool
from conductor.telemetry.gpu import NodeGpus


@dataclass(frozen=True)
class Trial:
    """What to run: `command` in `cwd` (a checkout of `commit`), seed `seed`."""

    pane: str
    seq: int
    seed: int
    commit: str
    command: str
    cwd: Path
    log_path: Path
    metric: str
    time_budget_s: float
    timeout_s: float
    kind: str = "experiment"  # experiment | verify: a verify re-run runs beside the pane's own
    # what a sandboxing runner lets it touch (core/sandbox.py)
    protected: tuple[str, ...] = ()  # paths relative to cwd, read-only inside
    data: tuple[tuple[str, bool], ...] = ()  # (folder, writable) the experiment may use
    network: bool = True
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES  # the log keeps its head and tail past this
    setup: str = ""  # the workspace's setup command, run once per machine first (core/node_setup.py)
    setup_timeout_s: float = 1800.0

    @property
    def tag(self) -> str:
        """Unique per run: the environment mark by which stragglers are found and killed."""
        return f"{self.pane}:{self.kind}:{self.seq}:{self.commit[:12]}:{self.seed}"


@dataclass(frozen=True)
class TrialResult:
    exit_code: int | None
    timed_out: bool
    started_at: float
    finished_at: float
    log_path: str
    slot: str
    seed: int = 0
    summary: dict[str, Any] = field(default_factory=dict)
    metric: float | None = None  # as printed in the summary block (may be NaN)
    cpu_s: float | None = None  # CPU seconds the run's processes used; None where not measured

    @property
    def duration_s(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    @property
    def value(self) -> float | None:
        """The metric of a run that worked: None for a crash, a timeout, a missing or non-finite metric."""
        if self.exit_code != 0 or self.metric is None or not math.isfinite(self.metric):
            return None
        return self.metric

    def shown(self) -> str:
        """The metric as printed, or `crash (timeout)` / `crash (1)`."""
        if self.value is not None:
            return f"{self.value:.6f}"
        return f"crash ({'timeout' if self.timed_out else self.exit_code})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrialResult:
        return cls(**data)


class SlotLost(Exception):
    """The slot went away under a running trial (its cluster node died): the attempt is
    interrupted, not the experiment's fault, so `Trials` runs it again on another slot.
    The runner has closed the attempt's log before raising."""

    def __init__(self, slot: Slot, why: str):
        super().__init__(why)
        self.slot = slot
        self.why = why


class Runner(Protocol):
    async def run(
        self,
        trial: Trial,
        slot: Slot,
        env: dict[str, str],
        *,
        pidfile: Path,
        tag: str,
        on_start: Callable[[int | None], None] | None = None,
    ) -> TrialResult:
        """Run the trial once; on cancellation kill everything it started and re-raise."""
        ...


@runtime_checkable
class SetsUpMachines(Protocol):
    """A runner that can run a workspace's setup command on the machine a slot is on; `base`
    is the folder a setup on this machine keeps its checkout in."""

    async def run_setup(self, request: SetupRequest, slot: Slot, env: dict[str, str], base: Path) -> SetupResult: ...


@runtime_checkable
class ReapsLeftovers(Protocol):
    """A runner whose experiments run where this process's pid files cannot reach (other
    nodes): at start, it kills what an earlier conductor of the run dir left running there,
    every process whose tag starts with `tag_prefix`, and says what it killed (blocking)."""

    def reap_leftovers(self, tag_prefix: str) -> list[str]: ...


@runtime_checkable
class SamplesNodes(Protocol):
    """A runner whose GPU slots live on other nodes: it samples their GPUs (blocking, once a
    tick, from the monitor's thread), node id -> that node's GPUs."""

    def sample_nodes(self, node_ids: set[str]) -> dict[str, NodeGpus]: ...


@runtime_checkable
class WatchesSlots(Protocol):
    """A runner whose slots come and go while the run is live (the nodes of a cluster): the
    orchestra runs `watch_slots` beside the panes; it adds and retires slots of `pool` and
    says what changed through `notify`."""

    async def watch_slots(self, pool: SlotPool, notify: Callable[[str], None]) -> None: ...


class LocalRunner:
    """A process group on this machine, in the trial's checkout (core/experiment.py).

    Its output is masked by `redactor` on the way to the log: by default the secrets of
    conductor's own environment, by the built-in names."""

    def __init__(self, redactor: Redactor | None = None):
        self.redactor = redactor if redactor is not None else Redactor(os.environ)

    async def run_setup(self, request: SetupRequest, slot: Slot, env: dict[str, str], base: Path) -> SetupResult:
        tree = await asyncio.to_thread(run_git_bytes, request.repo, "archive", "--format=tar", request.commit)
        return await asyncio.to_thread(run_setup_in, base, tree, request.command, env, request.timeout_s)

    async def run(
        self,
        trial: Trial,
        slot: Slot,
        env: dict[str, str],
        *,
        pidfile: Path,
        tag: str,
        on_start: Callable[[int | None], None] | None = None,
    ) -> TrialResult:
        result = await run_process(
            trial.command,
            cwd=trial.cwd,
            env=env,
            log_path=trial.log_path,
            timeout_s=trial.timeout_s,
            pidfile=pidfile,
            on_start=on_start,
            tag=tag,
            redactor=self.redactor,
            max_log_bytes=trial.max_log_bytes,
        )
        return TrialResult(
            exit_code=result.exit_code,
            timed_out=result.timed_out,
            started_at=result.started_at,
            finished_at=result.finished_at,
            log_path=str(result.log_path),
            slot=slot.name,
            seed=trial.seed,
            summary=result.summary,
            cpu_s=result.cpu_s,
        )
