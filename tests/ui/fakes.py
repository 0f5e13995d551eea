"""A fake engine for UI tests: the Orchestra's shape, a scripted event stream, recorded commands.

Everything is deterministic: events carry fixed timestamps around T0 and the app gets a
clock fixed at NOW, so ages, rates and snapshots never depend on when the test runs.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import weakref
from pathlib import Path

from conductor.core.bus import EventBus
from conductor.core.commands import Command, Pause, Resume, Say, Stop
from conductor.core.events import (
    AgentActivity,
    Alert,
    Event,
    ExperimentFinished,
    ExperimentStarted,
    PaneDone,
    PaneState,
    RunFinished,
    RunStarted,
    TokenUsage,
)
from conductor.core.ledger import Ledger, PaneRecord, UsageTotals
from conductor.core.record import ExperimentRecord

T0 = 1_750_000_000.0
NOW = T0 + 600.0


def fixed_clock() -> float:
    return NOW


class FakeLedger:
    """A real ledger (SQLite, in a temp dir) holding what the engine published: the app reads
    a resumed run's history from it as from a run's."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="conductor-ui-ledger-"))
        self.ledger = Ledger(self.dir / "ledger.db")
        self.path = self.ledger.path
        self._seen: set[int] = set()
        self._keep: list[Event] = []  # the events seen, so that their ids stay theirs
        weakref.finalize(self, _remove, self.ledger, self.dir)

    def observe(self, e: Event) -> None:
        if id(e) in self._seen:
            return  # recorded when the script was loaded: published now, written once
        self._seen.add(id(e))
        self._keep.append(e)
        if isinstance(e, RunStarted):
            for i, info in enumerate(e.panes):
                self.ledger.upsert_pane(
                    PaneRecord(info["name"], info.get("workspace", ""), info.get("agent", ""), info.get("model", ""),
                               info.get("branch", ""), info.get("worktree", ""), info.get("metric", ""),
                               info.get("goal", "min"), "", "", T0, i)
                )  # fmt: skip
        elif isinstance(e, ExperimentFinished):
            self.ledger.record_experiment(
                ExperimentRecord(
                    pane=e.pane,
                    seq=e.seq,
                    commit=e.commit,
                    status=e.status,
                    metric=e.metric,
                    description=e.description,
                    reason=e.reason,
                    started_at=e.ts - e.duration_s,
                    finished_at=e.ts,
                    slot=e.slot,
                    log_path=e.log_path,
                    is_baseline=e.is_baseline,
                )
            )
        elif isinstance(e, TokenUsage):
            self.ledger.record_usage(e.pane, e.model, input=0, output=0, usd=e.usd, ts=e.ts)

    def experiments(self, pane: str | None = None) -> list[ExperimentRecord]:
        return self.ledger.experiments(pane)

    def usage_totals(self, pane: str | None = None) -> UsageTotals:
        return self.ledger.usage_totals(pane)


def _remove(ledger: Ledger, folder: Path) -> None:
    ledger.close()
    shutil.rmtree(folder, ignore_errors=True)


class FakeEngine:
    """Publishes its script when run, then idles until stopped; records every command."""

    def __init__(
        self, events: list[Event] | None = None, *, finish: bool = False, preloaded: list[Event] | None = None
    ):
        self.bus = EventBus()
        self.ledger = FakeLedger()
        for e in preloaded or ():
            self.ledger.observe(e)  # a resumed run: in the ledger, never published again
        self.events = list(events or [])
        for e in self.events:  # the script is the run so far: in the ledger when the app opens
            self.ledger.observe(e)
        self.finish = finish
        self.commands: list[Command] = []
        self.stop_calls: list[str | None] = []
        self.ran = False
        self._stopped: asyncio.Event | None = None
        self._stop_requested = False

    def emit(self, event: Event) -> None:
        self.ledger.observe(event)
        self.bus.publish(event)

    async def run(self) -> None:
        self.ran = True
        self._stopped = asyncio.Event()
        for e in self.events:
            self.emit(e)
        if not self.finish:
            if self._stop_requested:
                self._stopped.set()
            await self._stopped.wait()
            for e in self.events:
                if isinstance(e, RunStarted):
                    for info in e.panes:
                        self.emit(PaneState(pane=info["name"], state="stopped", since=NOW, ts=NOW))
        self.emit(RunFinished(reason="stopped" if self._stop_requested else "all panes done", ts=NOW))

    def stop(self, pane: str | None = None) -> None:
        self.stop_calls.append(pane)
        if pane is None:
            self._stop_requested = True
            if self._stopped is not None:
                self._stopped.set()

    def command(self, cmd: Command) -> None:
        self.commands.append(cmd)
        if isinstance(cmd, Say):
            self.emit(AgentActivity(pane=cmd.pane, kind="researcher", text=cmd.text, ts=NOW))
        elif isinstance(cmd, Pause):
            self.emit(AgentActivity(pane=cmd.pane, kind="info", text="paused by the researcher", ts=NOW))
        elif isinstance(cmd, Resume):
            self.emit(AgentActivity(pane=cmd.pane, kind="info", text="resumed", ts=NOW))
        elif isinstance(cmd, Stop):
            self.stop(cmd.pane)


# ---------------------------------------------------------------- a scripted run

STATES = ("running", "thinking", "queued", "paused", "error", "waiting", "done", "judging", "thinking", "queued")
IDEAS = (
    "LEARNING_RATE 1e-3->3e-3",
    "DEPTH 2->3, WIDTH 128->96",
    "BATCH_SIZE 16->8",
    "WEIGHT_DECAY 0.1->0.02",
    "WARMUP_FRAC 0.1->0.0",
    "swap GELU for ReLU in the MLP",
)
PATTERN = ("keep", "discard", "discard", "keep", "crash", "discard", "rejected", "keep", "discard")


def pane_names(n: int) -> list[str]:
    return ["tinygpt"] if n == 1 else [f"tinygpt-{i + 1}" for i in range(n)]


def scripted_run(
    n: int,
    *,
    run_dir: str = "/runs/demo",
    worktrees: dict[str, str] | None = None,
    commits: dict[str, list[str]] | None = None,
    program: str | None = None,
    experiments: int = 6,
) -> list[Event]:
    """A deterministic slice of a run in progress: n panes in varied states, with history."""
    names = pane_names(n)
    llm = {names[i] for i in range(min(2, n))}
    panes = tuple(
        {
            "name": name,
            "workspace": "tinygpt",
            "agent": "anthropic" if name in llm else "optuna",
            "model": "claude-sonnet-4-5",
            "branch": f"conductor/demo/{name}",
            "worktree": (worktrees or {}).get(name, f"{run_dir}/worktrees/{name}"),
            "metric": "val_bpb",
            "goal": "min",
            "budget_s": 20.0,
            "program": program or f"{run_dir}/programs/{name}.md",
            "log_dir": f"{run_dir}/logs/{name}",
            "follows_researcher": name in llm,
        }
        for name in names
    )
    events: list[Event] = [RunStarted(run="20250615-101500", run_dir=run_dir, panes=panes, slots=("cpu0",), ts=T0)]
    events.append(Alert(pane=None, level="info", message="no GPU (NVML unavailable): 1 CPU slot(s)", ts=T0))
    for i, name in enumerate(names):
        t = T0 + 5 + i
        base = 3.2 - 0.04 * i
        best = base
        pane_commits = (commits or {}).get(name, [])
        events.append(PaneState(pane=name, state="baseline", since=t, ts=t))
        events.append(AgentActivity(pane=name, kind="info", text="running the baseline (unmodified HEAD)", ts=t))
        count = experiments - (i % 3)
        for seq in range(1, count + 1):
            t += 40
            is_base = seq == 1
            status = "keep" if is_base else PATTERN[(seq + i) % len(PATTERN)]
            metric = None
            if status == "keep":
                metric = best - 0.05 - 0.01 * ((seq + i) % 3) if not is_base else base
            elif status == "discard":
                metric = best + 0.02 + 0.01 * (seq % 4)
            previous = None if is_base else best
            if status == "keep":
                best = metric
            commit = pane_commits[seq - 1] if seq - 1 < len(pane_commits) else f"{(i * 97 + seq * 7919):07x}{'0' * 33}"
            description = "baseline" if is_base else IDEAS[(seq + i) % len(IDEAS)]
            if name in llm and not is_base:
                events.append(AgentActivity(pane=name, kind="text", text=f"Next I will try: {description}.", ts=t - 30))
                events.append(AgentActivity(pane=name, kind="tool", text="edit_file train.py", ts=t - 29))
                events.append(AgentActivity(pane=name, kind="result", text="ok: 1 replacement", ts=t - 28))
                events.append(
                    TokenUsage(
                        pane=name,
                        model="claude-sonnet-4-5",
                        input=1200 + 10 * seq,
                        output=300,
                        cache_write=0,
                        cache_read=8000,
                        usd=0.0084,
                        ts=t - 28,
                    )
                )
            elif not is_base:
                events.append(AgentActivity(pane=name, kind="tool", text=f"trial {seq - 2}: {description}", ts=t - 30))
            events.append(
                ExperimentStarted(
                    pane=name, seq=seq, commit=commit, description=description, slot="cpu0", budget_s=20.0, ts=t - 25
                )
            )
            events.append(
                ExperimentFinished(
                    pane=name,
                    seq=seq,
                    commit=commit,
                    status=status,
                    metric_name="val_bpb",
                    metric=metric,
                    best=best,
                    baseline=base,
                    delta=None if metric is None or previous is None else metric - previous,
                    description=description,
                    reason={"crash": "exit code 1, no val_bpb in the summary", "rejected": "touched prepare.py"}.get(
                        status, ""
                    ),
                    duration_s=21.5,
                    slot="cpu0",
                    log_path=f"{run_dir}/logs/{name}/{seq:04d}-{commit[:7]}.log",
                    is_baseline=is_base,
                    ts=t,
                )
            )
        state = STATES[i % len(STATES)]
        since = NOW - 10 - i
        detail = {
            "queued": "queued (1 ahead)",
            "waiting": "rate limited, retry in 30s",
            "error": "AgentFatal: bad key",
            "done": "reached 6 experiments",
        }.get(state, "")
        if state == "running":
            events.append(
                ExperimentStarted(
                    pane=name,
                    seq=count + 1,
                    commit="f" * 40,
                    description="WIDTH 128->160",
                    slot="cpu0",
                    budget_s=20.0,
                    ts=since,
                )
            )
        events.append(
            PaneState(
                pane=name,
                state=state,
                detail=detail,
                since=since,
                deadline=since + 20.0 if state == "running" else None,
                ts=since,
            )
        )
        if state in ("error", "done"):
            events.append(PaneDone(pane=name, reason=detail, ts=since))
    return events
