"""One pane's research loop: propose -> guard -> commit -> run -> judge -> keep/revert -> record.

A `Pane` owns its worktree and branch and is the session its agent works through: the
agent edits files and calls `run_experiment(description)`; the pane does the rest, in the
steps the README's "The loop" lists. On start it reconciles with the ledger
(core/reconcile.py), runs the baseline if there is none yet, then hands control to the
agent. The pieces it drives each live in their own module: trials run through
core/trial.py (slot, env, pid file, process, log), trust decisions in core/trust.py, and
recording (ledger, then results.tsv, then event) in core/recorder.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from conductor.config import EXTERNAL_KINDS
from conductor.core import peers
from conductor.core.events import ExperimentFinished, ExperimentStarted, PaneDone
from conductor.core.experiment import log_tail_lines, reap_pidfile
from conductor.core.failures import describe_failure
from conductor.core.judge import Verdict, judge
from conductor.core.observe import Observer, catch_up
from conductor.core.outcome import NOTE_PREFIX, Outcome, PaneFinished
from conductor.core.pane_history import baseline_cpu_share, has_baseline, resume_point, rows_since_keep
from conductor.core.reconcile import put_back
from conductor.core.record import ExperimentRecord, Standing, Status, improvement
from conductor.core.runner import Trial, TrialResult
from conductor.core.secrets import files_holding_secrets
from conductor.core.session import PaneBase
from conductor.core.slots import Slot
from conductor.core.starved import cpu_share, is_starved, starved_reason
from conductor.core.summary import memory_gb, missing_metric
from conductor.core.trial import workspace_trial
from conductor.core.workspace import BranchMoved, Worktree, dirty_files, source_repo
from conductor.errors import ConductorError

INTERRUPTED_NOW = "interrupted: conductor was stopped during this experiment"


class Pane(PaneBase):
    """One research loop: the session (PaneBase) plus the loop that runs experiments."""

    _tampered: tuple[str, ...] = ()  # what the current experiment's runs reached past its files

    # ================================================================ setup

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
        self._wt, start = Worktree.ensure(
            source,
            self.worktree_path,
            self.branch,
            ws.editable,
            ws.protected,
            ws.copy,
            owns_branch=ws.experiments != "observed",  # an observed agent commits on its branch itself
        )
        if ws.copy:
            copied = self._wt.copy_ignored(ws.path, ws.copy)
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
        self.program_text()  # until the agent reads it, it follows the program it starts with
        self.ctx.ledger.upsert_pane(self._pane_record())
        self.ctx.board(ws.name).release(self.name)  # nothing of this pane is in flight at a start
        self.wt.remember_protected(self.base_commit)
        notes += self._reconcile_blocking()
        return notes

    def _reconcile_blocking(self) -> list[str]:
        """Make worktree, ledger and results.tsv agree after any kind of stop."""
        notes = []
        self.seq, found = resume_point(
            self.ctx.ledger, self.name, self.base_commit, self.ctx.board(self.workspace.name).migrations(self.name)
        )
        self.best, self.best_commit, self.baseline = found.best, found.best_commit, found.baseline
        observed = self.workspace.experiments == "observed"
        if observed:  # rows the agent logged while nobody watched, before the tree is touched
            notes += catch_up(self)
        put = put_back(
            self.wt,
            self.ctx.ledger,
            pane=self.name,
            seq=self.seq,
            base_commit=self.base_commit,
            best_commit=self.best_commit,
            tried_ref=self._tried_ref,
            log_path=self._log_path,
            program_sha=self._followed,
        )
        self.seq = put.seq
        notes += put.notes
        if put.interrupted is not None:  # on every screen as any other recorded row
            self.ctx.bus.publish(ExperimentFinished.of(put.interrupted, self._standing(self.best)))
        if not observed:  # in observed mode results.tsv is the agent's own log
            self.recorder.sync_tsv()
        return notes

    def _log_path(self, seq: int, commit: str) -> Path:
        return self.log_dir / f"{seq:04d}-{commit[:7]}.log"

    def _tried_ref(self, seq: int) -> str:
        return f"refs/conductor/{self.ctx.run_name}/{self.name}/{seq:05d}"

    # ================================================================ run

    async def run(self) -> None:
        try:
            self.set_state("setup")
            notes = await asyncio.to_thread(self._setup_blocking)
            for note in notes:
                self.activity("info", note)
            await asyncio.to_thread(self._check_done)
            # an external agent runs its own first experiment on the unmodified HEAD: that is the
            # baseline (a managed one whose first experiment changes the code gets it run first;
            # an observed one's row counts as the baseline only on the unmodified HEAD)
            baseline_known = await asyncio.to_thread(has_baseline, self.ctx.ledger, self.name)
            if self.agent_config.kind not in EXTERNAL_KINDS and not baseline_known:
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
            if self._wt is not None:
                self._wt.close()

    def _tidy(self) -> None:
        """Leave the worktree clean at the best commit, whatever the agent was editing."""
        if self._wt is None:
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
        head = self.wt.head()
        change = await asyncio.to_thread(peers.change_of, self, head)
        outcome = await self._execute(commit=head, description="baseline", is_baseline=True, change=change)
        if outcome.status == Status.CRASH:
            self._baseline_sanity(outcome)
        await asyncio.to_thread(self._check_done)

    def _baseline_sanity(self, outcome: Outcome) -> None:
        """A baseline that cannot work as configured is a pane error, not a crash to iterate on."""
        ws = self.workspace
        row = self.recent_history(1)[-1]
        if row.exit_code == 127:
            last = outcome.log_tail.strip().splitlines()[-1:] or [""]
            raise ConductorError(f"pane {self.name}: the run command was not found: `{ws.run}` ({last[0]})")
        if row.exit_code == 0:
            problem = missing_metric(ws.metric, row.summary, row.log_path)
            if problem:
                raise ConductorError(f"pane {self.name}: {problem}")

    async def run_experiment(self, description: str, agent_ref: str = "") -> Outcome:
        """Guard, commit, run, judge, keep or revert, record: for the changes the agent made."""
        if self.stop_requested:  # the stop's cancel was lost (3.11's wait_for can drop one): no new experiment
            raise asyncio.CancelledError
        await asyncio.to_thread(self._check_done)  # ledger counts: off the loop
        await self._wait_while_paused()  # the inbox stays for the agent's next turn boundary
        description = self.ctx.redact(" ".join(description.split())[:500]) or "experiment"
        restored = await asyncio.to_thread(self.wt.restore_git_state)
        if restored:  # moved since this pane's last experiment (a sibling's run, a stray command)
            names = ", ".join(f.name for f in restored)
            if any(f.worktree == self.worktree_path for f in restored):  # the edits may sit on a wrong tree
                reason = f"git state changed outside conductor, restored: {names}"
                return await asyncio.to_thread(self._reject, description, reason, agent_ref)
            self.alert("warning", f"git state changed outside conductor, restored: {names}")
        guard = await asyncio.to_thread(self.wt.guard)
        leaked = await asyncio.to_thread(files_holding_secrets, self.worktree_path, guard.files, self.ctx.redact)
        if guard.ok and leaked:
            reason = f"the change holds the value of a secret ({', '.join(leaked)}): never committed"
            outcome = await asyncio.to_thread(self._reject, description, reason, agent_ref)
        elif guard.ok:
            try:
                commit = await asyncio.to_thread(self.wt.commit, description, guard.files)
            except BranchMoved as moved:
                await asyncio.to_thread(self.wt.restore_git_state)
                return await asyncio.to_thread(self._reject, description, f"{moved}: restored", agent_ref)
            # an external agent's first; off the loop: the ledger's lock may be held by a busy thread
            is_baseline = not await asyncio.to_thread(has_baseline, self.ctx.ledger, self.name)
            if is_baseline and guard.files:  # changes the code: the unmodified HEAD is measured first
                await self._baseline_before(commit)
                is_baseline = False
            outcome = await self._run_unless_repeat(commit, description, agent_ref, is_baseline)
        else:
            outcome = await asyncio.to_thread(self._reject, description, guard.reason, agent_ref)
        try:
            await asyncio.to_thread(self._check_done)
        except PaneFinished as done:
            done.outcome = outcome
            raise
        return outcome

    async def _run_unless_repeat(self, commit: str, description: str, agent_ref: str, is_baseline: bool) -> Outcome:
        """Run the change, claimed on the board, unless the workspace has tried it already; then,
        when this pane's line has gone stale, move onto a sibling's better best."""
        change = await asyncio.to_thread(peers.change_of, self, commit)
        repeat = None if is_baseline else await asyncio.to_thread(peers.find_repeat, self, change, description)
        if repeat is not None and repeat.refused:
            return await asyncio.to_thread(peers.refuse, self, commit, description, agent_ref, change, repeat)
        async with peers.claimed(self, change, description):
            outcome = await self._execute(
                commit=commit, description=description, agent_ref=agent_ref, is_baseline=is_baseline, change=change
            )
        if repeat is not None:
            outcome = replace(outcome, note=f"Flagged: {repeat.text(self.workspace.metric)}.")
        if not is_baseline:
            await asyncio.to_thread(peers.migrate_if_stale, self)
        return outcome

    async def _baseline_before(self, commit: str) -> None:
        """Run the baseline on the experiment's parent (the unmodified HEAD), then put the
        experiment's commit back in the worktree."""
        self.activity("info", "the first experiment changes the code: the baseline runs first")
        await asyncio.to_thread(self.wt.reset_to, self.best_commit)
        await self._run_baseline()
        await asyncio.to_thread(self.wt.reset_to, commit)

    def _new_record(
        self, commit: str, status: Status, description: str, reason: str, **fields: Any
    ) -> ExperimentRecord:
        """The next experiment's record, credited to the program the agent is following."""
        self.seq += 1
        now = time.time()
        base: dict[str, Any] = {"started_at": now, "finished_at": now, "parent": self.best_commit}
        return ExperimentRecord(
            pane=self.name,
            seq=self.seq,
            commit=commit,
            status=status,
            metric=None,
            description=description,
            reason=reason,
            program_sha=self._followed,
            **{**base, **fields},
        )

    def _reject(self, description: str, reason: str, agent_ref: str) -> Outcome:
        record = self._new_record(self.best_commit, Status.REJECTED, description, reason, agent_ref=agent_ref)
        self.wt.reset_to(self.best_commit)
        outcome = self.recorder.record(record, self._standing(self.best))
        self.alert("warning", f"experiment rejected: {reason}")
        return outcome

    def _standing(self, previous_best: float | None) -> Standing:
        ws = self.workspace
        return Standing(ws.metric, ws.goal, self.best, previous_best, self.baseline)

    def _trial(self, commit: str, seq: int, seed: int, log_path: Path) -> Trial:
        return workspace_trial(
            self.workspace,
            pane=self.name,
            seq=seq,
            seed=seed,
            commit=commit,
            cwd=self.worktree_path,
            log_path=log_path,
        )

    async def _run_trial(self, trial: Trial, state: str, on_slot: Callable[[Slot, float], None] | None = None):
        """Queue for a slot and run the trial; the pane's state follows it."""
        ws = self.workspace
        self.set_state("queued", f"queued ({self.ctx.pool.waiting} ahead)")

        git_mark = 0

        def granted(slot: Slot, started: float) -> None:
            nonlocal git_mark
            git_mark = self.wt.state.mark()
            self.set_state(state, f"on {slot.name}", deadline=started + ws.time_budget_s)
            if on_slot is not None:
                on_slot(slot, started)

        def check() -> None:
            self._tampered = (*self._tampered, *self._tampered_by_run(git_mark))

        return await self.ctx.trials.run(trial, on_slot=granted, on_pid=self._running, after_run=check)

    def _running(self, pid: int | None) -> None:
        self.running_pid = pid

    async def _execute(
        self, *, commit: str, description: str, change: peers.Change, is_baseline: bool = False, agent_ref: str = ""
    ) -> Outcome:
        ws = self.workspace
        record = self._new_record(
            commit, Status.CRASH, description, "", agent_ref=agent_ref, change=change.summary, change_key=change.key
        )
        seq = record.seq
        log_path = self._log_path(seq, commit)
        record = replace(record, log_path=str(log_path))
        previous_best = self.best

        def announce(slot: Slot, started: float) -> None:
            nonlocal record
            record = replace(record, slot=slot.name, started_at=started)
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

        self._tampered = ()
        try:
            result = await self._run_trial(self._trial(commit, seq, 0, log_path), "running", announce)
            self.set_state("judging")
            min_delta = await asyncio.to_thread(self.trust.keep_threshold)  # a ledger read: off the loop
            verdict = judge(
                goal=ws.goal,
                best=self.best,
                metric=result.metric,
                exit_code=result.exit_code,
                timed_out=result.timed_out,
                min_delta=min_delta,
                metric_name=ws.metric,
            )
            metric: float | None = result.metric
            extra: dict[str, Any] = {}
            share = cpu_share(result.cpu_s, result.duration_s)
            base_share = (
                None if is_baseline else await asyncio.to_thread(baseline_cpu_share, self.ctx.ledger, self.name)
            )
            starved = is_starved(share, base_share)
            record = replace(record, cpu_share=share, starved=starved)
            repeat = verdict.status == Status.KEEP and not self._tampered  # a tampering run is not run again
            if is_baseline and repeat and ws.noise_runs > 1:
                metric, extra = await self.trust.noise_floor(self._repeat, commit, seq, result.metric)
            elif repeat and previous_best is not None:
                if starved:
                    self.activity("info", starved_reason(share or 0.0, base_share or 0.0))
                verdict, metric, extra = await self.trust.verify_keep(
                    self._repeat, commit, seq, result.metric, previous_best, at_least=int(starved)
                )
            if starved:
                verdict = Verdict(
                    verdict.status, f"{starved_reason(share or 0.0, base_share or 0.0)}; {verdict.reason}"
                )
        except asyncio.CancelledError:
            self._record_interrupted(record)
            raise
        record = self._settled(record, result, verdict, metric, extra, is_baseline)
        tampered = "; ".join(dict.fromkeys(self._tampered))
        if tampered:  # nothing it measured counts; a rejected baseline is run again on the next start
            record = replace(record, status=Status.REJECTED, reason=tampered, metric=None, is_baseline=False)
            self.alert("warning", f"experiment rejected: {tampered}")
        log_tail = log_tail_lines(log_path) if record.status == Status.CRASH else ""
        outcome = await asyncio.to_thread(self._settle, record, previous_best, log_tail)
        self._after_record(record, log_tail)
        self.set_state("thinking")
        return outcome

    def _tampered_by_run(self, git_mark: int) -> list[str]:
        """Did the run reach past its editable files? Checked while it still holds its slot.
        Git state first (read without running git, put back; a sibling's check may have put
        it back already, while the run was on), then the protected files (the reset after
        the record restores them)."""
        problems = []
        self.wt.restore_git_state()
        restored = self.wt.state.fixed_since(git_mark)
        if restored:
            problems.append(f"the run changed git state, restored: {', '.join(f.name for f in restored)}")
        protected = self.wt.protected_violations()
        if protected:
            problems.append(f"protected file changed during the run: {', '.join(protected)}")
        return problems

    @staticmethod
    def _settled(
        record: ExperimentRecord,
        result: TrialResult,
        verdict: Verdict,
        metric: float | None,
        extra: dict[str, Any],
        is_baseline: bool,
    ) -> ExperimentRecord:
        return replace(
            record,
            status=verdict.status,
            metric=metric if metric is not None and metric == metric else None,
            reason=verdict.reason,
            memory_gb=memory_gb(result.summary),
            started_at=result.started_at,
            finished_at=time.time() if extra else result.finished_at,
            slot=result.slot,
            exit_code=result.exit_code,
            summary={**{k: v for k, v in result.summary.items() if isinstance(v, (float, str))}, **extra},
            is_baseline=is_baseline,
        )

    async def _repeat(self, commit: str, seq: int, runs: int, state: str) -> list[float | None]:
        """Run `commit` `runs` more times with seeds 1..runs; each run goes to the reruns table."""
        values: list[float | None] = []
        for seed in range(1, runs + 1):
            log = self.log_dir / f"{seq:04d}-{commit[:7]}-seed{seed}.log"
            result = await self._run_trial(self._trial(commit, seq, seed, log), state)
            self.ctx.ledger.record_rerun(self.name, commit, seed, result.value, str(log))
            values.append(result.value)
        return values

    def _after_record(self, record: ExperimentRecord, log_tail: str) -> None:
        """Guards that act on the record: crash streaks pause, plateaus nudge."""
        ws = self.workspace
        if record.status == Status.CRASH and self._crash_streak >= ws.crash_limit and not self.paused:
            self._paused.clear()
            self.alert(
                "error",
                f"{self._crash_streak} crashes in a row: paused until resumed (p in the TUI). Last log lines:\n{log_tail}",
            )
            self.set_state("paused", f"{self._crash_streak} crashes in a row")
        if ws.plateau:
            since = rows_since_keep(self.ctx.ledger, self.name)
            if since and since % ws.plateau == 0:
                message = NOTE_PREFIX + (
                    f"No keep in the last {since} experiments: the current line of ideas is exhausted. "
                    "Change direction: re-read the code and try something structurally different."
                )
                self.alert("warning", f"plateau: no keep in {since} experiments")
                self.tell(message)

    def _count_crash(self, record: ExperimentRecord) -> None:
        self._crash_streak = self._crash_streak + 1 if record.status == Status.CRASH else 0

    def _settle(self, record: ExperimentRecord, previous_best: float | None, log_tail: str) -> Outcome:
        """Ledger first, then git (keep advances, anything else resets), then TSV and event."""
        if record.status == Status.KEEP:
            self.best, self.best_commit = record.metric, record.commit
            if record.is_baseline:
                self.baseline = record.metric
        outcome = self.recorder.record(record, self._standing(previous_best), log_tail=log_tail)
        if record.status == Status.KEEP:
            self.wt.clean_untracked()
        else:
            if record.commit != self.best_commit:
                self.wt.keep_ref(self._tried_ref(record.seq), record.commit)
            self.wt.reset_to(self.best_commit)
        self._count_crash(record)
        return outcome

    # ---------------------------------------------------------------- observed mode (external agents)

    def observer(self) -> Observer:
        """Observed mode: what turns the agent's own results.tsv rows into experiments."""
        return Observer(self)

    def record_observed(self, record: ExperimentRecord, *, check_done: bool = True) -> Outcome:
        """An experiment the agent ran and logged itself (core/observe.py): ledger, then event.
        The agent wrote its own results.tsv row and owns the branch, so neither is touched.
        Blocking; raises PaneFinished (with the outcome) at a stop condition."""
        previous_best = self.best
        self.seq += 1
        record = replace(record, seq=self.seq, parent=self.best_commit, program_sha=self._followed)
        if record.is_baseline and record.metric is not None:
            self.baseline = record.metric
        if record.status == Status.KEEP and record.metric is not None:
            self.best, self.best_commit = record.metric, record.commit
        outcome = self.recorder.record(record, self._standing(previous_best), write_tsv=False)
        self._count_crash(record)
        self._after_record(record, "")
        if self.state == "running":
            self.set_state("thinking")
        if check_done:
            try:
                self._check_done()
            except PaneFinished as done:
                done.outcome = outcome
                raise
        return outcome

    def _record_interrupted(self, record: ExperimentRecord) -> None:
        """A stop arrived mid-experiment: record it as interrupted and put the tree back; one
        that never got a slot never started, and is no row at all. Blocking on purpose: this
        runs while the task is being cancelled. An interrupted baseline is not marked as the
        baseline, so the next start runs it again."""
        started = bool(record.slot)
        record = replace(record, status=Status.INTERRUPTED, reason=INTERRUPTED_NOW, finished_at=time.time())
        with contextlib.suppress(Exception):
            if started:
                self.recorder.record(record, self._standing(self.best))
            else:
                self.seq -= 1
            self.wt.restore_git_state()
            if record.commit != self.best_commit:
                if started:
                    self.wt.keep_ref(self._tried_ref(record.seq), record.commit)
                self.wt.reset_to(self.best_commit)
