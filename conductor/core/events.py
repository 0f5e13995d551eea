"""Engine -> UI traffic: frozen, JSON-serialisable events, the only thing the engine emits.

The TUI, the headless printer, `conductor status` clients and tests all consume this one
stream. `to_dict`/`from_dict` give the wire form (a "type" field plus the fields), so a
socket client sees exactly the dataclasses the engine publishes, with no second schema.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from conductor.core.record import ExperimentRecord, Standing, delta


def now() -> float:
    return time.time()


@dataclass(frozen=True)
class Event:
    type: ClassVar[str] = "event"
    ts: float = field(default_factory=now, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["type"] = self.type
        return d


@dataclass(frozen=True)
class RunStarted(Event):
    type: ClassVar[str] = "run_started"
    run: str
    run_dir: str
    panes: tuple[dict, ...]  # {name, workspace, agent, model, branch, worktree, metric, goal}
    slots: tuple[str, ...]
    resumed: bool = False
    sandbox: str = ""  # one line when experiments are not sandboxed; "" when they are


@dataclass(frozen=True)
class PaneState(Event):
    """What a pane is doing now: setup, baseline, thinking, queued, running, judging,
    paused, waiting, error, done, stopped. `detail` is free text ("queued (2 ahead)")."""

    type: ClassVar[str] = "pane_state"
    pane: str
    state: str
    detail: str = ""
    since: float = field(default_factory=now)
    deadline: float | None = None  # for "running 0:12 of 0:20"


@dataclass(frozen=True)
class ExperimentStarted(Event):
    type: ClassVar[str] = "experiment_started"
    pane: str
    seq: int
    commit: str
    description: str
    slot: str
    budget_s: float


@dataclass(frozen=True)
class ExperimentFinished(Event):
    type: ClassVar[str] = "experiment_finished"
    pane: str
    seq: int
    commit: str
    status: str  # keep | discard | crash | rejected
    metric_name: str
    metric: float | None
    best: float | None  # best after this experiment
    baseline: float | None
    delta: float | None  # metric - previous best (None if no metric or no best)
    description: str
    reason: str
    duration_s: float
    slot: str = ""
    log_path: str = ""
    is_baseline: bool = False
    program_sha: str = ""
    starved: bool = False  # its run got far less CPU than the baseline's (core/starved.py)

    @classmethod
    def of(cls, record: ExperimentRecord, standing: Standing, **kw: Any) -> ExperimentFinished:
        return cls(
            pane=record.pane,
            seq=record.seq,
            commit=record.commit,
            status=record.status,
            metric_name=standing.metric_name,
            metric=record.metric,
            best=standing.best,
            baseline=standing.baseline,
            delta=delta(record.metric, standing.previous_best),
            description=record.description,
            reason=record.reason,
            duration_s=record.duration_s,
            slot=record.slot,
            log_path=record.log_path,
            is_baseline=record.is_baseline,
            program_sha=record.program_sha,
            starved=record.starved,
            **kw,
        )


@dataclass(frozen=True)
class AgentActivity(Event):
    """A line of what the agent did: kind is text | tool | result | info | researcher | error.
    `replayed`: a line from before this start, read back from the ledger for the screen."""

    type: ClassVar[str] = "agent_activity"
    pane: str
    kind: str
    text: str
    replayed: bool = False


@dataclass(frozen=True)
class TokenUsage(Event):
    type: ClassVar[str] = "token_usage"
    pane: str
    model: str
    input: int
    output: int
    cache_write: int
    cache_read: int
    usd: float


@dataclass(frozen=True)
class TokenRates(Event):
    """Rolling meters at most once a second; pane "" is the orchestra total."""

    type: ClassVar[str] = "token_rates"
    pane: str
    in_per_s: float
    out_per_s: float
    usd_per_h: float
    usd_total: float


@dataclass(frozen=True)
class SlotSample(Event):
    type: ClassVar[str] = "slot_sample"
    slot: str
    kind: str  # gpu | cpu
    busy: bool
    pane: str | None
    util: float | None = None  # %; None when not measured
    mem_used_mb: float | None = None
    mem_total_mb: float | None = None
    temp_c: float | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QuotaSample(Event):
    """How much of one account's limit window is used: from Claude Code's `rate_limit_event`
    (window five_hour, seven_day...) or the Messages API's `anthropic-ratelimit-*` headers
    (window tokens, input-tokens, output-tokens, requests)."""

    type: ClassVar[str] = "quota"
    account: str  # the agent kind whose login or key it is: claude-code, anthropic, codex
    window: str
    utilization: float | None  # 0..1
    resets_at: float | None
    status: str = "allowed"
    pane: str = ""


@dataclass(frozen=True)
class HostSample(Event):
    type: ClassVar[str] = "host_sample"
    cpu_percent: float
    mem_used_mb: float
    mem_total_mb: float
    slots: tuple[str, ...] = ()  # the pool's slots now (nodes of a cluster come and go)


@dataclass(frozen=True)
class Alert(Event):
    type: ClassVar[str] = "alert"
    pane: str | None
    level: str  # info | warning | error
    message: str


@dataclass(frozen=True)
class PaneDone(Event):
    type: ClassVar[str] = "pane_done"
    pane: str
    reason: str


@dataclass(frozen=True)
class RunFinished(Event):
    type: ClassVar[str] = "run_finished"
    reason: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.type: cls
    for cls in (
        RunStarted,
        PaneState,
        ExperimentStarted,
        ExperimentFinished,
        AgentActivity,
        TokenUsage,
        TokenRates,
        SlotSample,
        QuotaSample,
        HostSample,
        Alert,
        PaneDone,
        RunFinished,
    )
}


def event_from_dict(data: dict[str, Any]) -> Event:
    data = dict(data)
    cls = EVENT_TYPES[data.pop("type")]
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {k: v for k, v in data.items() if k in names}
    for f in dataclasses.fields(cls):
        if f.name in kwargs and isinstance(kwargs[f.name], list) and "tuple" in str(f.type):
            kwargs[f.name] = tuple(kwargs[f.name])
    return cls(**kwargs)
