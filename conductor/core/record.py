"""One experiment, one record: what the ledger stores, the event shows and the agent reads.

`ExperimentRecord` is written once, where an experiment is settled; the ledger row, the
`ExperimentFinished` event and the agent's `Outcome` are all derived from it (with the
pane's `Standing` at that moment), so no field is ever copied by hand. `improvement` and
`delta` are the only places that compare a metric with a best.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """What an experiment came to. A StrEnum: it is stored, sent and compared as its text."""

    KEEP = "keep"
    DISCARD = "discard"
    CRASH = "crash"
    REJECTED = "rejected"
    INTERRUPTED = "interrupted"  # conductor stopped (or lost its node) mid-run: not the idea's fault


def improvement(goal: str, best: float, metric: float) -> float:
    """How much better `metric` is than `best` (positive = better), whatever the goal."""
    return best - metric if goal == "min" else metric - best


def delta(metric: float | None, previous_best: float | None) -> float | None:
    """metric - previous best, as every screen and the agent show it; None when either is missing."""
    if metric is None or previous_best is None:
        return None
    return metric - previous_best


@dataclass(frozen=True)
class ExperimentRecord:
    pane: str
    seq: int
    commit: str
    status: Status
    metric: float | None
    description: str = ""
    reason: str = ""
    parent: str = ""
    memory_gb: float = 0.0
    started_at: float = 0.0
    finished_at: float = 0.0
    slot: str = ""
    log_path: str = ""
    exit_code: int | None = None
    summary: dict = field(default_factory=dict)
    is_baseline: bool = False
    agent_ref: str = ""
    seed: int = 0
    program_sha: str = ""  # the program.md version the agent was following when it proposed this
    change: str = ""  # what changed, for the board: knob values or a diff summary (core/change.py)
    change_key: str = ""  # the hash of the editable files it ran: equal keys are the same experiment
    cpu_share: float | None = None  # CPU seconds per wall second its run got; None where not measured
    starved: bool = False  # its run got far less CPU than the baseline's (core/starved.py)

    def __post_init__(self) -> None:
        if not isinstance(self.status, Status):
            object.__setattr__(self, "status", Status(self.status))

    @property
    def duration_s(self) -> float:
        return max(0.0, self.finished_at - self.started_at)


@dataclass(frozen=True)
class Standing:
    """The pane's position right after an experiment was settled: what its event and outcome
    compare against."""

    metric_name: str
    goal: str
    best: float | None  # best after this experiment
    previous_best: float | None
    baseline: float | None
