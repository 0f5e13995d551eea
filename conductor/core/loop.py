"""One pane's research loop: propose -> guard -> commit -> run -> judge -> keep/revert -> record.

A `Pane` owns its worktree and branch and is the `PaneSession` its agent works through:
the agent edits files and calls `run_experiment(description)`; the pane does the rest. On
start it reconciles with the ledger (an interrupted commit becomes a crash row, the tree is
reset to the best commit, results.tsv is rebuilt), runs the baseline if there is none yet,
then hands control to the agent. Recording order is ledger, then results.tsv, then event.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from conductor.config import EXTERNAL_KINDS, AgentConfig, Config, PaneSpec, Price
from conductor.core import results_tsv
from conductor.core.agent import Agent
from conductor.core.bus import EventBus
from conductor.core.events import (
    AgentActivity,
    Alert,
    ExperimentFinished,
    ExperimentStarted,
    PaneDone,
    PaneState,
    TokenUsage,
)
from conductor.core.experiment import experiment_env, log_tail_lines, reap_pidfile, run_process
from conductor.core.judge import Verdict, judge
from conductor.core.ledger import Ledger, PaneRecord, UsageTotals
from conductor.core.observe import Observer, catch_up
from conductor.core.outcome import NOTE_PREFIX, Outcome, PaneFinished
from conductor.core.record import ExperimentRecord, improvement
from conductor.core.slots import SlotPool
from conductor.core.summary import memory_gb, metric_from
from conductor.core.workspace import Worktree, dirty_files, source_repo
from conductor.errors import AgentFatal, ConductorError


@dataclass
class RunContext:
    """What every pane of one orchestra shares."""

    run_name: str
    run_dir: Path
    config: Config
    ledger: Ledger
    pool: SlotPool
    bus: EventBus
    agent_factory: Callable[[AgentConfig], Agent]  # from the composition root (the CLI); tests inject scripted agents
    agents_md: str = ""
    max_experiments: int | None = None
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    redact: Callable[[str], str] = field(default=lambda text: text)


def usage_cost(price: Price | None, input: int, output: int, cw5m: int, cw1h: int, cache_read: int) -> float:
    if price is None:
        return 0.0
    return (
        input * price.input
        + output * price.output
        + cw5m * price.cache_write
        + cw1h * price.input * 2.0
        + cache_read * price.cache_read
    ) / 1e6


def describe_failure(exc: Exception) -> str:
    """One line for the pane about an unexpected failure (git, the ledger, an agent)."""
    import sqlite3

    import git

    if isinstance(exc, AgentFatal):
        return str(exc)
    if isinstance(exc, git.GitCommandError):
        lines = [ln.strip() for ln in str(exc.stderr or exc).splitlines() if ln.strip()]
        return f"git failed in the worktree: {lines[-1] if lines else exc}"
    if isinstance(exc, sqlite3.Error):
        return f"the ledger cannot be written ({exc}): this pane stops; everything recorded so far is kept"
    return f"{exc.__class__.__name__}: {exc}"


class Pane:
    def __init__(self, spec: PaneSpec, ctx: RunContext, position: int = 0):
        self.spec = spec
        self.position = position
        self.ctx = ctx
        self.name = spec.name
        self.workspace = spec.workspace
        self.agent_config = spec.agent
        self.branch = f"conductor/{ctx.run_name}/{spec.name}"
        self.worktree_path = ctx.run_dir / "worktrees" / spec.name
        self.agent_dir = ctx.run_dir / "agents" / spec.name
        self.program_path = ctx.run_dir / "programs" / f"{spec.name}.md"
        self.log_dir = ctx.run_dir / "logs" / spec.name
        self.pidfile = ctx.run_dir / "pids" / f"{spec.name}.pid"
        self.wt: Worktree | None = None
        self.base_commit = ""
        self.best: float | None = None
        self.best_commit = ""
        self.baseline: float | None = None
        self.seq = 0
        self.state = "setup"
        self.state_since = time.time()
        self.running_pid: int | None = None  # the experiment process now running, for telemetry
        self._paused = asyncio.Event()
        self._paused.set()
        self._inbox: list[str] = []
        self._program_reload = False
        self._consecutive = {"crash": 0}
        # set by an external CLI agent while it takes `conductor exp` requests (core/control.py)
        self.exp_handler: Callable | None = None
        self.agent: Agent | None = None  # while the agent runs

    # ================================================================ session API (for agents)

    def history(self) -> list[ExperimentRecord]:
        return self.ctx.ledger.experiments(self.name)

    def program_text(self) -> str:
        try:
            return self.program_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""

    def agents_text(self) -> str:
        return self.ctx.agents_md

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

    def price(self, model: str) -> Price | None:
        return self.ctx.config.price(model)

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

    def say(self, text: str) -> None:
        text = self.ctx.redact(text)
        self._inbox.append(text)
        self.ctx.ledger.add_message(self.name, "researcher", text)
        self.activity("researcher", text)

    def reload_program(self) -> None:
        self._program_reload = True
        self.ctx.ledger.upsert_pane(self._pane_record())
        self.activity("info", "program.md changed; the agent picks it up at its next turn")

    # ================================================================ setup and reconcile

    def _pane_record(self) -> PaneRecord:
        program_sha = hashlib.sha256(self.program_text().encode()).hexdigest()[:12]
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
            program_sha=program_sha,
            position=self.position,
        )

    def _setup_blocking(self) -> list[str]:
        notes: list[str] = []
        ws = self.workspace
        for d in (self.agent_dir, self.log_dir, self.pidfile.parent, self.program_path.parent):
            d.mkdir(parents=True, exist_ok=True)
        if self.pidfile.exists() and reap_pidfile(self.pidfile):
            notes.append("killed an experiment process left running by a previous conductor")
        source, own_repo = source_repo(ws.path, ws.name, self.ctx.run_dir)
        if own_repo:
            dirty = dirty_files(source)
            if dirty:
                notes.append(
                    f"workspace repo has uncommitted changes ({', '.join(dirty[:3])}); panes start from its HEAD"
                )
        self.wt, start = Worktree.ensure(source, self.worktree_path, self.branch, ws.editable, ws.protected, ws.copy)
        if ws.copy:
            copied = self.wt.copy_ignored(ws.path, ws.copy)
            if copied:
                notes.append(f"copied {len(copied)} ignored file(s) into the worktree")
        for rel in ws.editable:
            if "*" not in rel and not (self.worktree_path / rel).exists():
                raise ConductorError(f"pane {self.name}: editable file '{rel}' does not exist in the workspace")
        existing = self.ctx.ledger.pane(self.name)
        self.base_commit = existing.base_commit if existing else start
        if not self.program_path.exists():
            src = self.worktree_path / ws.program
            if src.is_file():
                shutil.copyfile(src, self.program_path)
            elif self.agent_config.kind not in ("optuna", "command"):
                raise ConductorError(f"pane {self.name}: program file '{ws.program}' not found in {ws.path}")
            else:
                self.program_path.write_text("", encoding="utf-8")
        self.ctx.ledger.upsert_pane(self._pane_record())
        self.wt.remember_protected(self.base_commit)
        notes += self._reconcile_blocking()
        return notes

    def _reconcile_blocking(self) -> list[str]:
        """Make worktree, ledger and results.tsv agree after any kind of stop."""
        notes = []
        rows = self.ctx.ledger.experiments(self.name)
        self.seq = max((r.seq for r in rows), default=0)
        self._restore_best(rows)
        observed = self.workspace.experiments == "observed"
        if observed:  # rows the agent logged while nobody watched, before the tree is touched
            notes += catch_up(self)
        head = self.wt.head()
        if head != self.best_commit:
            if not self.ctx.ledger.has_commit(self.name, head) and head != self.base_commit:
                self.seq += 1
                now = time.time()
                row = ExperimentRecord(
                    pane=self.name,
                    seq=self.seq,
                    commit=head,
                    status="crash",
                    metric=None,
                    description=self.wt.head_message()[:200],
                    reason="interrupted: conductor stopped before this experiment finished",
                    parent=self.best_commit,
                    started_at=now,
                    finished_at=now,
                )
                self.ctx.ledger.record_experiment(row)
                self.wt.keep_ref(self._tried_ref(row.seq), head)
                notes.append(f"recorded interrupted experiment {head[:7]} as crash")
            self.wt.reset_to(self.best_commit)
        elif not self.wt.is_clean():
            self.wt.reset_to(self.best_commit)
            notes.append("reset uncommitted changes in the worktree")
        if not observed:  # in observed mode results.tsv is the agent's own log
            results_tsv.rewrite(
                self.worktree_path / results_tsv.FILENAME, self.workspace.metric, self.ctx.ledger.experiments(self.name)
            )
        return notes

    def _restore_best(self, rows: list[ExperimentRecord]) -> None:
        self.best, self.best_commit, self.baseline = None, self.base_commit, None
        for r in rows:
            if r.is_baseline and r.metric is not None and self.baseline is None:
                self.baseline = r.metric
            if r.status == "keep":
                self.best, self.best_commit = r.metric, r.commit

    def _tried_ref(self, seq: int) -> str:
        return f"refs/conductor/{self.ctx.run_name}/{self.name}/{seq:05d}"

    # ================================================================ run

    async def run(self) -> None:
        try:
            self.set_state("setup")
            notes = await asyncio.to_thread(self._setup_blocking)
            for note in notes:
                self.activity("info", note)
            self._check_done()
            # an external agent runs its own first experiment on the unmodified HEAD: that is the baseline
            if self.agent_config.kind not in EXTERNAL_KINDS and not any(r.is_baseline for r in self.history()):
                await self._run_baseline()
            agent = self.agent = self.ctx.agent_factory(self.agent_config)
            self.set_state("thinking")
            await agent.run(self)
            self._finish("stopped", "the agent ended")
        except PaneFinished as done:
            await asyncio.to_thread(self._tidy)
            self._finish("done", done.reason)
        except asyncio.CancelledError:
            self._tidy()
            self.set_state("stopped", "stopped")
            raise
        except ConductorError as exc:
            self._fail(str(exc))
        except Exception as exc:  # one pane's failure is never the orchestra's
            self._fail(describe_failure(exc))
        finally:
            if self.wt is not None:
                self.wt.close()

    def _tidy(self) -> None:
        """Leave the worktree clean at the best commit, whatever the agent was editing."""
        if self.wt is None:
            return
        with contextlib.suppress(Exception):
            if self.wt.head() != self.best_commit or not self.wt.is_clean():
                self.wt.reset_to(self.best_commit)

    def _finish(self, state: str, reason: str) -> None:
        self.set_state(state, reason)
        self.ctx.bus.publish(PaneDone(pane=self.name, reason=reason))

    def _fail(self, message: str) -> None:
        self.alert("error", message)
        self._finish("error", message)

    def _limit(self) -> int | None:
        limits = [x for x in (self.ctx.max_experiments, self.workspace.max_experiments) if x]
        return min(limits) if limits else None

    def _check_done(self) -> None:
        """Stop conditions: max_experiments, max_hours, target."""
        ws = self.workspace
        limit = self._limit()
        if limit is not None and self.ctx.ledger.experiment_count(self.name) >= limit:
            raise PaneFinished(f"reached {limit} experiments")
        if ws.max_hours is not None:
            record = self.ctx.ledger.pane(self.name)
            if record and time.time() - record.created_at >= ws.max_hours * 3600:
                raise PaneFinished(f"reached max_hours {ws.max_hours:g}")
        if ws.target is not None and self.best is not None and improvement(ws.goal, ws.target, self.best) >= 0:
            raise PaneFinished(f"target reached: {ws.metric} {self.best:.6g} (target {ws.target:g})")

    async def _run_baseline(self) -> None:
        self.set_state("baseline")
        self.activity("info", "running the baseline (unmodified HEAD)")
        outcome = await self._execute(commit=self.wt.head(), description="baseline", is_baseline=True)
        if outcome.status == "crash":
            self._baseline_sanity(outcome)
        self._check_done()

    def _baseline_sanity(self, outcome: Outcome) -> None:
        """A baseline that cannot work as configured is a pane error, not a crash to iterate on."""
        ws = self.workspace
        row = self.history()[-1]
        if row.exit_code == 127:
            last = outcome.log_tail.strip().splitlines()[-1:] or [""]
            raise ConductorError(f"pane {self.name}: the run command was not found: `{ws.run}` ({last[0]})")
        if row.exit_code == 0 and row.summary and ws.metric not in row.summary:
            keys = ", ".join(sorted(row.summary)[:8])
            raise ConductorError(
                f"pane {self.name}: the baseline's summary block has no '{ws.metric}' (it has: {keys}); "
                "check the workspace's metric"
            )

    async def run_experiment(self, description: str, agent_ref: str = "") -> Outcome:
        """DESIGN.md steps 4-9 for the changes the agent made in the worktree."""
        self._check_done()
        await self._wait_while_paused()  # the inbox stays for the agent's next turn boundary
        description = self.ctx.redact(" ".join(description.split())[:500]) or "experiment"
        guard = await asyncio.to_thread(self.wt.guard)
        if guard.ok:
            commit = await asyncio.to_thread(self.wt.commit, description, guard.files)
            is_baseline = (
                self.agent_config.kind in EXTERNAL_KINDS
                and not guard.files
                and not any(r.is_baseline for r in self.history())
            )
            outcome = await self._execute(
                commit=commit, description=description, agent_ref=agent_ref, is_baseline=is_baseline
            )
        else:
            outcome = await asyncio.to_thread(self._reject, description, guard.reason, agent_ref)
        try:
            self._check_done()
        except PaneFinished as done:
            done.outcome = outcome
            raise
        return outcome

    def _reject(self, description: str, reason: str, agent_ref: str) -> Outcome:
        self.seq += 1
        now = time.time()
        row = ExperimentRecord(
            pane=self.name,
            seq=self.seq,
            commit=self.best_commit,
            status="rejected",
            metric=None,
            description=description,
            reason=reason,
            parent=self.best_commit,
            started_at=now,
            finished_at=now,
            agent_ref=agent_ref,
        )
        self.wt.reset_to(self.best_commit)
        outcome = self._record(row, previous_best=self.best)
        self.alert("warning", f"experiment rejected: {reason}")
        return outcome

    async def _execute(
        self, *, commit: str, description: str, is_baseline: bool = False, agent_ref: str = ""
    ) -> Outcome:
        ws = self.workspace
        self.seq += 1
        seq = self.seq
        log_path = self.log_dir / f"{seq:04d}-{commit[:7]}.log"
        previous_best = self.best
        started = time.time()
        holder: dict = {}
        try:
            result, slot = await self._run_once(
                commit, seq=seq, seed=0, log_path=log_path, description=description, announce=True, holder=holder
            )
            started = result.started_at
            self.set_state("judging")
            metric = metric_from(result.summary, ws.metric)
            verdict = judge(
                goal=ws.goal,
                best=self.best,
                metric=metric,
                exit_code=result.exit_code,
                timed_out=result.timed_out,
                min_delta=self.keep_threshold(),
                metric_name=ws.metric,
            )
            extra: dict = {}
            if is_baseline and verdict.status == "keep" and ws.noise_runs > 1:
                metric, extra = await self._noise_floor(commit, seq, metric)
            elif verdict.status == "keep" and previous_best is not None:
                verdict, metric, extra = await self._maybe_verify(commit, seq, metric, previous_best)
        except asyncio.CancelledError:
            self._record_interrupted(seq, commit, description, started, holder.get("slot"), log_path, agent_ref)
            raise
        row = ExperimentRecord(
            pane=self.name,
            seq=seq,
            commit=commit,
            status=verdict.status,
            metric=metric if metric is not None and metric == metric else None,
            description=description,
            reason=verdict.reason,
            parent=self.best_commit,
            memory_gb=memory_gb(result.summary),
            started_at=result.started_at,
            finished_at=time.time() if extra else result.finished_at,
            slot=slot.name,
            log_path=str(log_path),
            exit_code=result.exit_code,
            summary={**{k: v for k, v in result.summary.items() if isinstance(v, (float, str))}, **extra},
            is_baseline=is_baseline,
            agent_ref=agent_ref,
        )
        log_tail = log_tail_lines(log_path) if verdict.status == "crash" else ""
        outcome = await asyncio.to_thread(self._settle, row, previous_best, log_tail)
        self._after_record(row, log_tail)
        self.set_state("thinking")
        return outcome

    async def _run_once(
        self,
        commit: str,
        *,
        seq: int,
        seed: int,
        log_path: Path,
        description: str,
        announce: bool = False,
        state: str = "running",
        holder: dict | None = None,
    ):
        """Lease a slot, run the workspace command once, release the slot at once."""
        ws = self.workspace
        self.set_state("queued", f"queued ({self.ctx.pool.waiting} ahead)")
        slot = await self.ctx.pool.acquire(self.name)
        if holder is not None:
            holder["slot"] = slot
        try:
            started = time.time()
            self.set_state(state, f"on {slot.name}", deadline=started + ws.time_budget_s)
            if announce:
                self.ctx.bus.publish(
                    ExperimentStarted(
                        pane=self.name,
                        seq=seq,
                        commit=commit,
                        description=description,
                        slot=slot.name,
                        budget_s=ws.time_budget_s,
                    )
                )
            env = experiment_env(
                self.ctx.base_env,
                slot.env,
                {
                    "CONDUCTOR_SEED": str(seed),
                    "TIME_BUDGET": f"{ws.time_budget_s:g}",
                    "CONDUCTOR_PANE": self.name,
                    "CONDUCTOR_RUN_DIR": str(self.ctx.run_dir),
                },
            )
            result = await run_process(
                ws.run,
                cwd=self.worktree_path,
                env=env,
                log_path=log_path,
                timeout_s=ws.timeout_s,
                pidfile=self.pidfile,
                on_start=self._started,
                tag=f"{self.ctx.run_dir}:{self.name}:{seq}:{seed}",
            )
        finally:
            self.running_pid = None
            self.ctx.pool.release(slot)
        return result, slot

    # ---------------------------------------------------------------- trust: noise, verification, gates

    def keep_threshold(self) -> float:
        """A keep must beat the best by more than max(min_delta, noise_k x baseline spread)."""
        spread = self.ctx.ledger.get_meta(f"noise_spread:{self.name}")
        noise = self.workspace.noise_k * float(spread) if spread else 0.0
        return max(self.workspace.min_delta, noise)

    async def _repeat(self, commit: str, seq: int, runs: int, state: str) -> list[float | None]:
        """Run `commit` `runs` more times with seeds 1..runs; each run goes to the reruns table."""
        values: list[float | None] = []
        for seed in range(1, runs + 1):
            log = self.log_dir / f"{seq:04d}-{commit[:7]}-seed{seed}.log"
            result, _ = await self._run_once(commit, seq=seq, seed=seed, log_path=log, description="", state=state)
            value = metric_from(result.summary, self.workspace.metric) if result.exit_code == 0 else None
            value = value if value is not None and value == value else None
            self.ctx.ledger.record_rerun(self.name, commit, seed, value, str(log))
            values.append(value)
        return values

    async def _noise_floor(self, commit: str, seq: int, first: float) -> tuple[float, dict]:
        ws = self.workspace
        self.activity("info", f"measuring the noise floor: {ws.noise_runs} baseline runs with different seeds")
        values = [first] + await self._repeat(commit, seq, ws.noise_runs - 1, state="baseline")
        ok = [v for v in values if v is not None]
        spread = statistics.stdev(ok) if len(ok) > 1 else 0.0
        self.ctx.ledger.set_meta(f"noise_spread:{self.name}", repr(spread))
        mean = statistics.fmean(ok)
        self.activity(
            "info",
            f"noise floor: {ws.metric} mean {mean:.6f}, sd {spread:.6f} over {len(ok)} runs; "
            f"a keep must now beat the best by more than {self.keep_threshold():.6f}",
        )
        return mean, {"noise_runs": values, "noise_sd": spread}

    def _gates(self, metric: float, previous_best: float) -> list[str]:
        ws = self.workspace
        reasons = []
        gain = improvement(ws.goal, previous_best, metric)
        if ws.sanity_gain is not None and previous_best != 0 and gain / abs(previous_best) > ws.sanity_gain:
            reasons.append(
                f"a {gain / abs(previous_best):.0%} gain in one step is above sanity_gain {ws.sanity_gain:g}"
            )
        if ws.plausible is not None and not (ws.plausible[0] <= metric <= ws.plausible[1]):
            reasons.append(f"{metric:.6g} is outside the plausible range {list(ws.plausible)}")
        return reasons

    async def _maybe_verify(self, commit: str, seq: int, metric: float, previous_best: float):
        """A candidate keep is re-run `verify` times (or twice when a gate trips) and kept only
        if the mean of all runs still wins."""
        ws = self.workspace
        reasons = self._gates(metric, previous_best)
        runs = max(ws.verify, 2 if reasons else 0)
        if not runs:
            return Verdict("keep", f"better by {improvement(ws.goal, previous_best, metric):.6g}"), metric, {}
        why = "; ".join(reasons) or f"verify = {ws.verify}"
        self.activity("info", f"verifying a candidate keep ({why}): {runs} more run(s)")
        values = [metric] + await self._repeat(commit, seq, runs, state="verifying")
        extra = {"verify_runs": values}
        if any(v is None for v in values):
            return Verdict("discard", f"a verification run crashed ({why})"), metric, extra
        mean = statistics.fmean(values)
        gain = improvement(ws.goal, previous_best, mean)
        if gain <= self.keep_threshold():
            return Verdict("discard", f"did not hold up: mean {mean:.6g} over {len(values)} runs"), metric, extra
        if ws.plausible is not None and not (ws.plausible[0] <= mean <= ws.plausible[1]):
            return Verdict("discard", f"implausible: mean {mean:.6g} outside {list(ws.plausible)}"), metric, extra
        return Verdict("keep", f"verified: mean {mean:.6g} over {len(values)} runs, better by {gain:.6g}"), mean, extra

    def _after_record(self, row: ExperimentRecord, log_tail: str) -> None:
        """Guards that act on the record: crash streaks pause, plateaus nudge."""
        ws = self.workspace
        if row.status == "crash" and self._consecutive["crash"] >= ws.crash_limit and not self.paused:
            self._paused.clear()
            self.alert(
                "error",
                f"{self._consecutive['crash']} crashes in a row: paused (press p to resume). Last log lines:\n{log_tail}",
            )
            self.set_state("paused", f"{self._consecutive['crash']} crashes in a row")
        if ws.plateau:
            rows = self.ctx.ledger.experiments(self.name)
            since = 0
            for r in reversed(rows):
                if r.status == "keep":
                    break
                since += 1
            if since and since % ws.plateau == 0:
                message = NOTE_PREFIX + (
                    f"No keep in the last {since} experiments: the current line of ideas is exhausted. "
                    "Change direction: re-read the code and try something structurally different."
                )
                self.alert("warning", f"plateau: no keep in {since} experiments")
                self._inbox.append(message)

    def _started(self, pid: int) -> None:
        self.running_pid = pid

    def _settle(self, row: ExperimentRecord, previous_best: float | None, log_tail: str) -> Outcome:
        """Ledger first, then git (keep advances, anything else resets), then TSV and event."""
        if row.status == "keep":
            self.best, self.best_commit = row.metric, row.commit
            if row.is_baseline:
                self.baseline = row.metric
        outcome = self._record(row, previous_best=previous_best, log_tail=log_tail)
        if row.status != "keep" and row.commit != self.best_commit:
            self.wt.keep_ref(self._tried_ref(row.seq), row.commit)
            self.wt.reset_to(self.best_commit)
        if row.status == "crash":
            self._consecutive["crash"] += 1
        else:
            self._consecutive["crash"] = 0
        return outcome

    def _record(
        self, row: ExperimentRecord, *, previous_best: float | None, log_tail: str = "", write_tsv: bool = True
    ) -> Outcome:
        self.ctx.ledger.record_experiment(row)
        tsv = self.worktree_path / results_tsv.FILENAME
        with contextlib.suppress(OSError):
            if not write_tsv:
                pass
            elif tsv.is_file():
                results_tsv.append(tsv, self.workspace.metric, row)
            else:  # deleted under us (by an experiment, by hand): the ledger has every row
                results_tsv.rewrite(tsv, self.workspace.metric, self.ctx.ledger.experiments(self.name))
        delta = row.metric - previous_best if row.metric is not None and previous_best is not None else None
        self.ctx.bus.publish(
            ExperimentFinished(
                pane=self.name,
                seq=row.seq,
                commit=row.commit,
                status=row.status,
                metric_name=self.workspace.metric,
                metric=row.metric,
                best=self.best,
                baseline=self.baseline,
                delta=delta,
                description=row.description,
                reason=row.reason,
                duration_s=row.duration_s,
                slot=row.slot,
                log_path=row.log_path,
                is_baseline=row.is_baseline,
            )
        )
        return Outcome(
            seq=row.seq,
            commit=row.commit,
            status=row.status,
            metric_name=self.workspace.metric,
            metric=row.metric,
            best=self.best,
            previous_best=previous_best,
            baseline=self.baseline,
            reason=row.reason,
            description=row.description,
            log_tail=log_tail,
            duration_s=row.duration_s,
            goal=self.workspace.goal,
        )

    # ---------------------------------------------------------------- observed mode (external agents)

    def record_observed(self, row: ExperimentRecord, *, check_done: bool = True) -> Outcome:
        """An experiment the agent ran and logged itself (core/observe.py): ledger, then event.
        The agent wrote its own results.tsv row and owns the branch, so neither is touched.
        Blocking; raises PaneFinished (with the outcome) at a stop condition."""
        previous_best = self.best
        self.seq += 1
        row = replace(row, seq=self.seq, parent=self.best_commit)
        if row.is_baseline and row.metric is not None:
            self.baseline = row.metric
        if row.status == "keep" and row.metric is not None:
            self.best, self.best_commit = row.metric, row.commit
        outcome = self._record(row, previous_best=previous_best, write_tsv=False)
        self._consecutive["crash"] = self._consecutive["crash"] + 1 if row.status == "crash" else 0
        self._after_record(row, "")
        if self.state == "running":
            self.set_state("thinking")
        if check_done:
            try:
                self._check_done()
            except PaneFinished as done:
                done.outcome = outcome
                raise
        return outcome

    def observer(self) -> Observer:
        """Observed mode: what turns the agent's own results.tsv rows into experiments."""
        return Observer(self)

    @contextlib.asynccontextmanager
    async def slot_lease(self):
        """Hold one slot while the block runs: an observed agent runs experiments itself, with
        the env of the slot it was started on."""
        self.set_state("queued", f"waiting for a slot ({self.ctx.pool.waiting} ahead)")
        async with self.ctx.pool.lease(self.name) as slot:
            yield slot

    def _record_interrupted(self, seq, commit, description, started, slot, log_path, agent_ref) -> None:
        """A stop arrived mid-experiment: record it as a crash and put the tree back. Blocking
        on purpose: this runs while the task is being cancelled. An interrupted baseline is
        not marked as the baseline, so the next start runs it again."""
        row = ExperimentRecord(
            pane=self.name,
            seq=seq,
            commit=commit,
            status="crash",
            metric=None,
            description=description,
            reason="interrupted: conductor was stopped during this experiment",
            parent=self.best_commit,
            started_at=started,
            finished_at=time.time(),
            slot=slot.name if slot else "",
            log_path=str(log_path),
            agent_ref=agent_ref,
        )
        previous_best = self.best
        with contextlib.suppress(Exception):
            self._record(row, previous_best=previous_best)
            if commit != self.best_commit:
                self.wt.keep_ref(self._tried_ref(seq), commit)
                self.wt.reset_to(self.best_commit)
