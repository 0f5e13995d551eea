"""The orchestra: every pane of one run, their slots, the ledger and the event bus.

It opens (or resumes) the run dir, holds a lock on it so no second conductor drives the
same worktrees, runs all panes concurrently in one TaskGroup, routes commands to panes, and
stops cleanly: cancelling a pane kills its running experiment and records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from conductor.config import AgentConfig, Config, PaneSpec, write_resolved
from conductor.config.masking import shown_notify
from conductor.core.activity_log import ActivityRecorder
from conductor.core.activity_log import replay as replay_activity
from conductor.core.agent import Agent
from conductor.core.bus import EventBus
from conductor.core.commands import Command, Pause, ReloadProgram, Resume, Say, Stop
from conductor.core.events import AgentActivity, Alert, Event, ExperimentFinished, RunFinished, RunStarted
from conductor.core.evolution import EvolutionSchedule, Evolver
from conductor.core.git_upkeep import Upkeep
from conductor.core.gitstate import RepoState
from conductor.core.ledger import Ledger
from conductor.core.live import REMOVED_META, LiveChanges, removed_panes
from conductor.core.loop import Pane
from conductor.core.loop_lag import LoopLag
from conductor.core.quota import QuotaBook
from conductor.core.rundir import RunDir
from conductor.core.rundir_watch import RunDirWatch
from conductor.core.runner import LocalRunner, ReapsLeftovers, Runner, SamplesNodes, WatchesSlots
from conductor.core.sandbox import NOT_SANDBOXED, SandboxRunner, availability
from conductor.core.secrets import SecretNames, redactor_for
from conductor.core.session import RunContext
from conductor.core.slots import Slot, SlotPool, cpu_slots, gpu_slot
from conductor.core.snapshot import Snapshot
from conductor.core.standings_keeper import Keeper as StandingsKeeper
from conductor.core.token_meters import TokenMeters
from conductor.core.trial import Trials, reap_verify_pidfiles
from conductor.errors import ConductorError


def agents_md_text() -> str:
    from conductor.config import bundled_workspaces_dir

    for candidate in (bundled_workspaces_dir().parent / "agents.md",):
        with contextlib.suppress(OSError):
            return candidate.read_text(encoding="utf-8")
    return ""


def build_slots(cfg: Config, gpus: list[tuple[int, str, str]] | None = None) -> tuple[list[Slot], str]:
    """Slots from `slots` (auto | count | GPU list) and the GPUs found; plus a one-line note."""
    spec = cfg.slots
    if spec == "ray":
        from conductor.core.cluster.setup import ray_slots

        return ray_slots(cfg)
    if isinstance(spec, int):
        return cpu_slots(spec), f"{spec} CPU slot(s)"
    if gpus is None:
        from conductor.telemetry.gpu import discover_gpus

        gpus, note = discover_gpus()
    else:
        note = ""
    if spec == "auto":
        if gpus:
            return [gpu_slot(i, uuid, name) for i, uuid, name in gpus], f"{len(gpus)} GPU slot(s)"
        return cpu_slots(cfg.cpu_slots), f"no GPU ({note or 'none found'}): {cfg.cpu_slots} CPU slot(s)"
    chosen = []
    for item in spec:
        match = [
            g for g in gpus if (isinstance(item, int) and g[0] == item) or (isinstance(item, str) and g[1] == item)
        ]
        if not match:
            raise ConductorError(f"slots: GPU {item!r} not found ({len(gpus)} GPU(s) visible)", cfg.source)
        chosen.append(gpu_slot(*match[0]))
    return chosen, f"{len(chosen)} GPU slot(s)"


def choose_runner(cfg: Config, layout: RunDir) -> tuple[Runner, str]:
    """`sandbox = "auto" | "on" | "off"`: the runner, and one line when experiments are not sandboxed."""
    if cfg.slots == "ray":
        from conductor.core.cluster.setup import ray_runner

        return ray_runner(cfg)
    local = LocalRunner(redactor_for(os.environ, cfg.secret_names))
    if cfg.sandbox == "off":
        return local, f'{NOT_SANDBOXED} (sandbox = "off")'
    usable, why = availability()
    if usable:
        return SandboxRunner(local, hidden=[layout.root]), ""
    if cfg.sandbox == "on":
        raise ConductorError(f'sandbox = "on" but {why}', cfg.source)
    return local, why


class RunDirLock:
    """An exclusive flock on the run dir: one orchestra per set of worktrees."""

    def __init__(self, run_dir: Path):
        self.path = RunDir(run_dir).lock
        self._fh: TextIO | None = None

    def acquire(self) -> None:
        fh = open(self.path, "a+")  # noqa: SIM115 - held open for the run's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise ConductorError(
                f"run dir {self.path.parent} is in use by a running conductor (pid {holder}): "
                f"`conductor attach --runs-dir {self.path.parent}` to watch it, `conductor stop` to stop it, "
                "or use another runs_dir"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


RESTARTED = "conductor restarted: the lines above are from before"


class Orchestra:
    def __init__(
        self,
        config: Config,
        *,
        bus: EventBus | None = None,
        agent_factory: Callable[[AgentConfig], Agent],
        max_experiments: int | None = None,
        slots: list[Slot] | None = None,
        runner: Runner | None = None,
        telemetry: bool = True,
        evolver: Evolver | None = None,
    ):
        self.config = config
        self.run_dir = config.runs_dir
        self.layout = RunDir(config.runs_dir)
        self.runner = runner  # chosen at open when not given (core/sandbox.py, core/cluster)
        self.sandbox_note = ""  # one line, shown everywhere, when experiments are not sandboxed
        self.bus = bus or EventBus()
        self.snapshot = Snapshot()  # what a client attaching mid-run needs to see
        self.bus.subscribe(self.snapshot)
        self.max_experiments = max_experiments
        self._slots_override = slots
        self._agent_factory = agent_factory
        self._evolver = evolver  # programs evolve on a schedule where a workspace asks (core/evolution.py)
        self.telemetry = telemetry
        self.panes: dict[str, Pane] = {}
        self._tasks: dict[str, asyncio.Task] = {}
        self._lock: RunDirLock | None = None
        self._trials: Trials | None = None
        self._ledger: Ledger | None = None
        self._pool: SlotPool | None = None
        self.run_name = ""
        self.resumed = False
        self._stopping = False
        self._budget_hit = False
        self.control = None  # the control socket server while the run is live
        self.loop_lag = LoopLag()  # this loop's own lag, answered in the control socket's hello
        self.slot_note = ""
        self.reaped: list[str] = []  # NODE:pid of experiments an earlier conductor left on other nodes
        self._watch: RunDirWatch | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.failure: str | None = None  # the one line that stopped the run, when something did
        self._ctx: RunContext | None = None
        self._group: asyncio.TaskGroup | None = None  # the panes' tasks, while the run is live
        self.live = LiveChanges(self)

    # ---------------------------------------------------------------- lifecycle

    def open(self) -> None:
        """Create or reopen the run dir, its ledger and lock. Blocking; call before `run`."""
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.layout.make_private()
        except OSError as exc:
            raise ConductorError(f"cannot create run dir {self.run_dir}: {exc.strerror}") from None
        if not os.access(self.run_dir, os.W_OK):
            raise ConductorError(f"run dir {self.run_dir} is not writable")
        self._lock = RunDirLock(self.run_dir)
        self._lock.acquire()
        self._ledger = Ledger(self.layout.ledger)
        self._watch = RunDirWatch(self.layout.ledger, self.layout.lock)
        name = self.ledger.get_meta("run")
        self.resumed = name is not None
        if name is None:
            name = time.strftime("%Y%m%d-%H%M%S")
            self.ledger.set_meta("run", name)
            self.ledger.set_meta("created_at", str(time.time()))
        self.run_name = name
        write_resolved(self.config, self.layout.config)
        slots, self.slot_note = (self._slots_override, "") if self._slots_override else build_slots(self.config)
        self._pool = SlotPool(slots)
        self.pool.on_queue_change = self._queue_moved
        if self.runner is None:
            self.runner, self.sandbox_note = choose_runner(self.config, self.layout)
        self.ledger.set_meta("sandbox", self.sandbox_note or "on")
        notify = self.config.notify
        self.ledger.set_meta("notify", json.dumps(shown_notify(notify.urls, notify.events)))
        secret_names = SecretNames(self.config.secret_names)
        self._trials = Trials(self.pool, self.runner, dict(os.environ), self.run_dir, self.layout.pid_dir, secret_names)
        self._trials.on_interrupted = self._attempt_interrupted
        self._trials.on_machine_failed = self._machine_failed
        reap_verify_pidfiles(self.layout.pid_dir)
        if isinstance(self.runner, ReapsLeftovers):
            self.reaped = self.runner.reap_leftovers(f"{self.run_dir}:")
        ctx = RunContext(
            run_name=self.run_name,
            layout=self.layout,
            config=self.config,
            ledger=self.ledger,
            pool=self.pool,
            bus=self.bus,
            trials=self._trials,
            agent_factory=self._agent_factory,
            agents_md=agents_md_text(),
            max_experiments=self.max_experiments,
            redact=redactor_for(os.environ, self.config.secret_names),
        )
        self._ctx = ctx
        removed = removed_panes(self.ledger.get_meta(REMOVED_META))
        for position, spec in enumerate(p for p in self.config.panes if p.name not in removed):
            self.panes[spec.name] = Pane(spec, ctx, position)

    @property
    def ledger(self) -> Ledger:
        if self._ledger is None:
            raise RuntimeError("the orchestra is not open yet")
        return self._ledger

    @property
    def pool(self) -> SlotPool:
        if self._pool is None:
            raise RuntimeError("the orchestra is not open yet")
        return self._pool

    @property
    def trials(self) -> Trials:
        if self._trials is None:
            raise RuntimeError("the orchestra is not open yet")
        return self._trials

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
        if self._lock is not None:
            self._lock.release()

    async def run(self) -> None:
        if self._ledger is None:
            await asyncio.to_thread(self.open)
        self._loop = asyncio.get_running_loop()
        unsubscribe_watch = self.bus.subscribe(self._check_after_record)
        self.bus.publish(self._run_started())
        if self.slot_note:
            self.bus.publish(Alert(pane=None, level="info", message=self.slot_note))
        if self.reaped:
            message = (
                f"killed {len(self.reaped)} process(es) an earlier conductor left running: {', '.join(self.reaped)}"
            )
            self.bus.publish(Alert(pane=None, level="info", message=message))
        if self.sandbox_note:
            self.bus.publish(Alert(pane=None, level="warning", message=self.sandbox_note))
            for name in self.panes:
                self.bus.publish(AgentActivity(pane=name, kind="info", text=self.sandbox_note))
        recorder = ActivityRecorder(self.ledger)  # first: the restart markers below are history too
        unsubscribe_recorder = self.bus.subscribe(recorder)
        recording = asyncio.create_task(recorder.run(), name="activity-recorder")
        try:
            earlier = await asyncio.to_thread(replay_activity, self.ledger, list(self.panes))
        except sqlite3.Error:  # old lines are a nicety: an unreadable table must not stop a run
            earlier = []
        for line in earlier:
            self.bus.publish(line)  # what the agents were doing before this start
        last = {line.pane: line.text for line in earlier}
        for pane, text in last.items():
            if text != RESTARTED:  # restarted again with nothing in between: one marker says it
                self.bus.publish(AgentActivity(pane=pane, kind="info", text=RESTARTED))
        reason = "all panes done"
        lag_meter = asyncio.create_task(self.loop_lag.run(), name="loop-lag")
        upkeep = Upkeep(list(self.panes), self._repo_of)  # git packed on a schedule, off the loop
        unsubscribe_upkeep = self.bus.subscribe(upkeep)
        packing = asyncio.create_task(upkeep.run(), name="git-upkeep")
        keeper = StandingsKeeper(self.ledger)  # status and the report fold only what came since
        keeping = asyncio.create_task(keeper.run(), name="standings-keeper")
        monitor = asyncio.create_task(self._monitor().run(), name="monitor") if self.telemetry else None
        token_rates = asyncio.create_task(self._publish_token_rates(), name="token-rates")
        watching = asyncio.create_task(self._watch_run_dir(), name="run-dir-watch")
        control = self.control = await self._start_control()
        slot_watch = (  # a cluster's nodes come and go: so do their slots (core/cluster/)
            asyncio.create_task(self.runner.watch_slots(self.pool, self._slots_changed), name="slot-watch")
            if isinstance(self.runner, WatchesSlots)
            else None
        )
        evolution = self._evolution()
        unsubscribe_evolution = self.bus.subscribe(evolution) if evolution is not None else None
        try:
            async with asyncio.TaskGroup() as tg:
                self._group = tg
                for name, p in self.panes.items():
                    self._tasks[name] = tg.create_task(p.run(), name=f"pane:{name}")
        except asyncio.CancelledError:
            reason = "stopped"
            raise
        finally:
            if evolution is not None and unsubscribe_evolution is not None:
                unsubscribe_evolution()
                await evolution.close()
            self._group = None  # no pane joins a run that has ended
            token_rates.cancel()
            lag_meter.cancel()
            packing.cancel()
            unsubscribe_upkeep()
            if slot_watch is not None:
                slot_watch.cancel()
            watching.cancel()
            unsubscribe_watch()
            with contextlib.suppress(asyncio.CancelledError, Exception):  # a meter never fails the run
                await token_rates
            with contextlib.suppress(asyncio.CancelledError):
                await lag_meter
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await packing
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            if slot_watch is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await slot_watch
            if monitor is not None:
                monitor.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await monitor
            recording.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await recording  # flushes the last lines
            unsubscribe_recorder()
            keeping.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeping
            with contextlib.suppress(Exception):  # a fold is a speed-up: a stop never fails on it
                await asyncio.to_thread(keeper.refresh, True)
            if self._stopping:
                reason = "stopped"
            if self.failure:
                reason = self.failure
                self._save_lost_ledger()
            self.bus.publish(RunFinished(reason=reason))
            if control is not None:  # after RunFinished: attached clients see how the run ended
                await control.close()

    def _run_started(self) -> RunStarted:
        return RunStarted(
            run=self.run_name,
            run_dir=str(self.run_dir),
            panes=tuple(
                {
                    "name": p.name,
                    "workspace": p.workspace.name,
                    "agent": p.agent_config.kind,
                    "model": p.agent_config.model,
                    "branch": p.branch,
                    "worktree": str(p.worktree_path),
                    "metric": p.workspace.metric,
                    "goal": p.workspace.goal,
                    "budget_s": p.workspace.time_budget_s,
                    "plateau": p.workspace.plateau,
                    "program": str(p.program_path),
                    "log_dir": str(p.log_dir),
                    "follows_researcher": p.follows_researcher,
                }
                for p in self.panes.values()
            ),
            slots=tuple(s.name for s in self.pool.slots),
            resumed=self.resumed,
            sandbox=self.sandbox_note,
        )

    def start_pane(self, spec: PaneSpec) -> None:
        """A pane added to the live run (core/live.py): set up and run beside the others."""
        if self._ctx is None or self._group is None:
            raise ConductorError("the run is not live: add the pane to conductor.toml and resume it")
        pane = self.panes[spec.name] = Pane(spec, self._ctx, len(self.panes))
        self._tasks[spec.name] = self._group.create_task(pane.run(), name=f"pane:{spec.name}")
        self.bus.publish(self._run_started())
        self.bus.publish(Alert(pane=spec.name, level="info", message=f"pane {spec.name} added to the live run"))

    def budget_changed(self) -> None:
        self._budget_hit = False  # the new budget is checked afresh within a second

    def _repo_of(self, name: str) -> tuple[Path, RepoState] | None:
        """A set-up pane's worktree and its repo's git state (for git_upkeep)."""
        try:
            wt = self.panes[name].wt
        except RuntimeError:
            return None
        return wt.path, wt.state

    def _attempt_interrupted(self, trial, slot: Slot, why: str) -> None:
        """A trial's slot was lost under it (core/trial.py runs it again elsewhere)."""
        message = f"{why}: interrupted, running again on another slot"
        self.bus.publish(Alert(pane=trial.pane, level="warning", message=message))
        self.bus.publish(AgentActivity(pane=trial.pane, kind="info", text=message))

    def _evolution(self) -> EvolutionSchedule | None:
        every = {ws.name: ws.evolve_every for ws in self.config.workspaces if ws.evolve_every}
        if self._evolver is None or not every:
            return None
        workspace_of = {name: p.workspace.name for name, p in self.panes.items()}
        return EvolutionSchedule(self.run_dir, every, workspace_of, self.layout.program, self._evolver, self.bus)

    def _machine_failed(self, message: str) -> None:
        self.bus.publish(Alert(pane=None, level="error", message=message))

    def _slots_changed(self, message: str) -> None:
        self.bus.publish(Alert(pane=None, level="info", message=message))

    # ---------------------------------------------------------------- the run dir's own files

    def _check_after_record(self, event: Event) -> None:
        if isinstance(event, ExperimentFinished):
            self._check_run_dir()

    async def _watch_run_dir(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self._check_run_dir()

    def _check_run_dir(self) -> None:
        """Any thread: a deleted or replaced ledger or lock stops the run with one line."""
        if self._watch is None or self.failure:
            return
        problem = self._watch.problem()
        if problem is None:
            return
        self.failure = problem
        self.bus.publish(Alert(pane=None, level="error", message=problem))
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.stop)

    def _save_lost_ledger(self) -> None:
        if self._watch is None or not self._watch.ledger_lost:
            return
        try:
            level, note = "info", self._watch.save_ledger(self.ledger)
        except (OSError, sqlite3.Error) as exc:
            level, note = "error", f"could not write the ledger back to {self.layout.ledger}: {exc}"
        self.bus.publish(Alert(pane=None, level=level, message=note))

    def _queue_moved(self) -> None:
        for pane in self.panes.values():
            pane.queue_moved()

    async def _publish_token_rates(self) -> None:
        """TokenRates at most once a second, per pane and in total, only when they changed."""
        meters = TokenMeters(usd_totals={name: self.ledger.usage_totals(name).usd for name in self.panes})
        quota = QuotaBook(self.bus, lambda text: self.ledger.set_meta("quota", text))
        unsubscribe = [self.bus.subscribe(meters.observe), self.bus.subscribe(quota.observe)]
        try:
            while True:
                await asyncio.sleep(1.0)
                for event in meters.due():
                    self.bus.publish(event)
                self._check_orchestra_budget()
                quota.tick(self._spare_capacity())
        finally:
            for undo in unsubscribe:
                undo()
            quota.flush()

    def _spare_capacity(self) -> str:
        """What could use more agent quota now, in words; "" when nothing could."""
        stopped = sum(1 for p in self.panes.values() if p.state in ("paused", "done", "stopped"))
        if stopped:
            return f"{stopped} pane(s) are paused or done"
        idle = sum(1 for s in self.pool.slots if self.pool.holder(s.name) is None)
        return f"{idle} slot(s) are idle" if idle else ""

    def _check_orchestra_budget(self) -> None:
        """`[conductor] max_usd` / `max_tokens`: the whole orchestra's spend pauses every pane."""
        cfg = self.config
        if (cfg.max_usd is None and cfg.max_tokens is None) or self._budget_hit:
            return
        t = self.ledger.usage_totals()
        tokens = t.input + t.output + t.cache_write + t.cache_read
        over = (cfg.max_usd is not None and t.usd >= cfg.max_usd) or (
            cfg.max_tokens is not None and tokens >= cfg.max_tokens
        )
        if not over:
            return
        self._budget_hit = True
        spent = f"${t.usd:.2f} and {tokens:,} tokens"
        self.bus.publish(
            Alert(pane=None, level="error", message=f"orchestra budget reached ({spent}): every pane paused")
        )
        for pane in self.panes.values():
            if not pane.paused:
                pane.pause(f"paused: the orchestra's budget is reached ({spent})")

    async def _start_control(self):
        """The run dir's control socket (`conductor exp`, commands from local clients)."""
        from conductor.core.control import ControlServer

        server = ControlServer(self)
        try:
            await server.start()
        except OSError as exc:
            self.bus.publish(
                Alert(
                    pane=None,
                    level="warning",
                    message=f"no control socket ({exc}): `conductor exp` cannot reach this run",
                )
            )
            return None
        return server

    def _monitor(self):
        from conductor.core.monitor import Monitor

        nodes = self.runner if isinstance(self.runner, SamplesNodes) else None
        return Monitor(self.pool, self.panes, self.bus, self.ledger, nodes=nodes)

    def stop(self, pane: str | None = None) -> None:
        """Cancel one pane, or all of them (the orchestra then finishes)."""
        if pane is None:
            self._stopping = True
            targets = list(self._tasks.values())
        else:
            targets = [self._tasks[pane]] if pane in self._tasks else []
        for name, p in self.panes.items():
            if pane is None or name == pane:
                p.stop_requested = True
        for task in targets:
            if not task.done():
                task.cancel()

    # ---------------------------------------------------------------- commands

    def command(self, cmd: Command) -> str | None:
        """Carry out a command; a live change (core/live.py) says in a line what it did."""
        pane = getattr(cmd, "pane", None)
        if isinstance(cmd, Stop):
            self.stop(pane)
            return None
        done = self.live.handle(cmd)
        if done is not None:
            return done
        target = self.panes.get(pane) if pane else None
        if target is None:
            raise ConductorError(f"no pane named '{pane}'")
        if isinstance(cmd, Pause):
            target.pause()
        elif isinstance(cmd, Resume):
            target.resume()
        elif isinstance(cmd, Say):
            target.say(cmd.text)
        elif isinstance(cmd, ReloadProgram):
            target.reload_program()
        else:
            raise ConductorError(f"command '{cmd.type}' is not supported yet")
        return None
