"""A pane as its agent and the researcher see it: identity, state, and the session API.

`PaneBase` holds what a pane is (name, workspace, branch, paths, best so far, state) and
everything an agent calls on its session (history, program.md, activity lines, token usage,
turn boundaries) or the researcher sends (pause, resume, messages, program reloads). The
loop itself (setup, baseline, guard, run, judge, record) is `Pane` in core/loop.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from conductor.config import DEAF_KINDS, AgentConfig, Config, PaneSpec, Price
from conductor.core.agent import Agent
from conductor.core.board import Board, BoardView
from conductor.core.bus import EventBus
from conductor.core.events import AgentActivity, Alert, PaneState, QuotaSample, TokenUsage
from conductor.core.ledger import Ledger, PaneRecord, UsageTotals
from conductor.core.ledger_schema import program_sha
from conductor.core.record import ExperimentRecord
from conductor.core.recorder import Recorder
from conductor.core.rundir import RunDir
from conductor.core.slots import Slot, SlotPool
from conductor.core.trial import Trials
from conductor.core.trust import TrustPolicy
from conductor.core.usage import usage_cost
from conductor.core.workspace import Worktree


@dataclass
class RunContext:
    """What every pane of one orchestra shares."""

    run_name: str
    layout: RunDir
    config: Config
    ledger: Ledger
    pool: SlotPool
    bus: EventBus
    trials: Trials
    agent_factory: Callable[[AgentConfig], Agent]  # from the composition root (the CLI); tests inject scripted agents
    agents_md: str = ""
    max_experiments: int | None = None
    redact: Callable[[str], str] = field(default=lambda text: text)
    boards: dict[str, Board] = field(default_factory=dict)

    @property
    def run_dir(self) -> Path:
        return self.layout.root

    def board(self, workspace: str) -> Board:
        """The workspace's board, one per workspace for all its panes."""
        if workspace not in self.boards:
            self.boards[workspace] = Board(self.ledger, workspace)
        return self.boards[workspace]


class PaneBase:
    """A pane's identity and state, and the session its agent and the researcher talk to."""

    def __init__(self, spec: PaneSpec, ctx: RunContext, position: int = 0):
        self.spec = spec
        self.position = position
        self.ctx = ctx
        self.name = spec.name
        self.workspace = spec.workspace
        self.agent_config = spec.agent
        self.branch = f"conductor/{ctx.run_name}/{spec.name}"
        layout = ctx.layout
        self.worktree_path = layout.worktree(spec.name)
        self.agent_dir = layout.agent_dir(spec.name)
        self.shared_dir = layout.shared_dir(spec.workspace.name)
        self.program_path = layout.program(spec.name)
        self.log_dir = layout.log_dir(spec.name)
        self.pidfile = layout.pidfile(spec.name)
        self._wt: Worktree | None = None
        self.base_commit = ""
        self.best: float | None = None
        self.best_commit = ""
        self.baseline: float | None = None
        self.seq = 0
        self.state = "setup"
        self.state_since = time.time()
        self.running_pid: int | None = None  # the experiment process now running, for telemetry
        self.recorder = Recorder(spec.name, spec.workspace.metric, ctx.ledger, ctx.bus, self.worktree_path)
        self.trust = TrustPolicy(spec.name, spec.workspace, ctx.ledger, lambda text: self.activity("info", text))
        self._paused = asyncio.Event()
        self._paused.set()
        self._inbox: list[str] = []
        self._program_reload = False
        self._followed = ""  # the program version the agent last read (credited with its experiments)
        self._followed_text: str | None = None
        self._crash_streak = 0
        self.agent: Agent | None = None  # while the agent runs
        self.stop_requested = False  # the orchestra cancelled this pane's task (core/orchestra.py stop)

    @property
    def wt(self) -> Worktree:
        """The pane's git worktree (set up when the pane starts)."""
        if self._wt is None:
            raise RuntimeError(f"pane {self.name} is not set up yet")
        return self._wt

    # ================================================================ session API (for agents)

    def history(self) -> list[ExperimentRecord]:
        return self.ctx.ledger.experiments(self.name)

    def board(self) -> BoardView:
        """What every pane of this workspace tried: the latest entries, each pane's best, the claims."""
        return self.ctx.board(self.workspace.name).view(self.workspace.goal)

    def recent_history(self, limit: int) -> list[ExperimentRecord]:
        """The pane's last `limit` experiments, oldest first: what a start needs, at any length of history."""
        return self.ctx.ledger.recent_experiments(self.name, limit)

    def program_text(self) -> str:
        """This pane's program.md; the agent that reads it follows this version from now on."""
        try:
            text = self.program_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        if text != self._followed_text:  # a version is stored once, when an agent first reads it
            self._followed, self._followed_text = self.ctx.ledger.record_program(text), text
        return text

    def agents_text(self) -> str:
        return self.ctx.agents_md

    def redact(self, text: str) -> str:
        return self.ctx.redact(text)

    def activity(self, kind: str, text: str) -> None:
        self.ctx.bus.publish(AgentActivity(pane=self.name, kind=kind, text=self.ctx.redact(text)))

    def set_state(self, state: str, detail: str = "", deadline: float | None = None) -> None:
        self.state = state
        self.state_since = time.time()
        self.ctx.bus.publish(
            PaneState(pane=self.name, state=state, detail=detail, since=self.state_since, deadline=deadline)
        )

    def queue_moved(self) -> None:
        """The slot queue moved: say how many are ahead now, keeping the age of the wait."""
        ahead = self.ctx.pool.position(self.name)
        if self.state == "queued" and ahead is not None:
            self.ctx.bus.publish(
                PaneState(pane=self.name, state="queued", detail=f"queued ({ahead} ahead)", since=self.state_since)
            )

    def alert(self, level: str, message: str) -> None:
        self.ctx.bus.publish(Alert(pane=self.name, level=level, message=self.ctx.redact(message)))

    def quota(
        self, account: str, window: str, utilization: float | None, resets_at: float | None, status: str = "allowed"
    ) -> None:
        """How much of an account's limit window is used, as the agent's CLI or API reported it."""
        self.ctx.bus.publish(
            QuotaSample(
                account=account,
                window=window,
                utilization=utilization,
                resets_at=resets_at,
                status=status,
                pane=self.name,
            )
        )

    def price(self, model: str) -> Price | None:
        return self.ctx.config.price(model)

    def slot_kind(self) -> str:
        """ "gpu" or "cpu" when every slot of the run is of that kind, else "any"."""
        kinds = {s.kind for s in self.ctx.pool.slots}
        return kinds.pop() if len(kinds) == 1 else "any"

    def record_usage(
        self,
        model: str,
        *,
        input: int = 0,
        output: int = 0,
        cache_write_5m: int = 0,
        cache_write_1h: int = 0,
        cache_read: int = 0,
        request_id: str = "",
        source: str = "",
    ) -> float:
        usd = usage_cost(self.price(model), input, output, cache_write_5m, cache_write_1h, cache_read)
        self.ctx.ledger.record_usage(
            self.name,
            model,
            input=input,
            output=output,
            cache_write_5m=cache_write_5m,
            cache_write_1h=cache_write_1h,
            cache_read=cache_read,
            usd=usd,
            request_id=request_id,
            source=source,
        )
        self.ctx.bus.publish(
            TokenUsage(
                pane=self.name,
                model=model,
                input=input,
                output=output,
                cache_write=cache_write_5m + cache_write_1h,
                cache_read=cache_read,
                usd=usd,
            )
        )
        return usd

    async def checkpoint(self) -> list[str]:
        """A turn boundary: wait while paused, then hand over the researcher's messages."""
        await self._wait_while_paused()
        messages, self._inbox = self._inbox, []
        return messages

    async def _wait_while_paused(self) -> None:
        if not self._paused.is_set():
            prev = self.state if self.state != "paused" else "thinking"
            self.set_state("paused")
            await self._paused.wait()
            self.set_state(prev)

    def usage_totals(self) -> UsageTotals:
        """Tokens and cost of this pane so far, over every run of it (for budgets)."""
        return self.ctx.ledger.usage_totals(self.name)

    def take_program_reload(self) -> bool:
        flag, self._program_reload = self._program_reload, False
        return flag

    @contextlib.asynccontextmanager
    async def slot_lease(self) -> AsyncIterator[Slot]:
        """Hold one slot while the block runs: an observed agent runs experiments itself, with
        the env of the slot it was started on."""
        self.set_state("queued", f"waiting for a slot ({self.ctx.pool.waiting} ahead)")
        async with self.ctx.pool.lease(self.name) as slot:
            yield slot

    # ================================================================ commands

    def pause(self, reason: str = "paused by the researcher (a running experiment finishes first)") -> None:
        self._paused.clear()
        if self.state not in ("running", "judging", "queued"):
            self.set_state("paused")
        self.activity("info", reason)

    def resume(self) -> None:
        self._paused.set()
        if self.state == "paused":
            self.set_state("thinking")
        self.activity("info", "resumed")

    @property
    def paused(self) -> bool:
        return not self._paused.is_set()

    def tell(self, note: str) -> None:
        """A note from conductor itself for the agent's next turn (starts with NOTE_PREFIX)."""
        self._inbox.append(note)

    @property
    def follows_researcher(self) -> bool:
        """Whether this pane's agent reads the researcher's messages and all of program.md (the
        offline agent reads its search section only, agents/search_space.py)."""
        return self.agent_config.kind not in DEAF_KINDS

    def cannot_follow(self, what: str) -> str:
        return (
            f"{self.name}'s {self.agent_config.kind} agent cannot read {what}: it searches the workspace's knobs only"
        )

    def say(self, text: str) -> None:
        text = self.ctx.redact(text)
        self.ctx.ledger.add_message(self.name, "researcher", text)
        self.activity("researcher", text)
        if not self.follows_researcher:  # kept in the ledger, and said: never silently dropped
            self.activity("info", self.cannot_follow("messages"))
            return
        self._inbox.append(text)

    def reload_program(self) -> None:
        self._program_reload = True
        self.ctx.ledger.upsert_pane(self._pane_record())
        if self.follows_researcher:
            self.activity("info", "program.md changed; the agent picks it up at its next turn")
        else:  # the offline agent reads program.md's search section before each trial
            self.activity("info", "program.md changed; the optuna agent follows its search section from its next trial")

    def _pane_record(self) -> PaneRecord:
        try:
            current = program_sha(self.program_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            current = program_sha("")
        return PaneRecord(
            name=self.name,
            workspace=self.workspace.name,
            agent=self.agent_config.kind,
            model=self.agent_config.model if self.agent_config.kind in ("anthropic", "claude-code", "codex") else "",
            branch=self.branch,
            worktree=str(self.worktree_path),
            metric=self.workspace.metric,
            goal=self.workspace.goal,
            base_commit=self.base_commit,
            program_sha=current,
            position=self.position,
        )
