"""Observed mode: experiments an external agent runs and logs itself, recorded as it logs them.

autoresearch as published has the agent commit, run, append a row to `results.tsv` and
keep or reset by itself. conductor leaves that loop alone and watches: every new row the
agent writes becomes a ledger experiment with the status the agent gave it, and the
protected files are checked after each (in the worktree and in the row's commit); a
changed one raises an alert and the experiment is recorded as rejected. A new commit on
the branch is announced as a running experiment, so the pane shows what the agent does.

Rows are matched by content, not position: the agent may rewrite the file (a fresh
header, a reformatted table) and nothing is recorded twice. Rows that were there before
the pane first started belong to someone else's run and are never recorded.
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from conductor.core import results_tsv
from conductor.core.events import ExperimentStarted
from conductor.core.gitsafe import GitError
from conductor.core.record import ExperimentRecord, Status

if TYPE_CHECKING:
    from conductor.core.loop import Pane
    from conductor.core.outcome import Outcome

LOGGED = (Status.KEEP, Status.DISCARD, Status.CRASH)  # what an agent may log; anything else is a discard
_ROW_KEY = "tsv_row"  # the agent's raw line, kept in the experiment's summary


@dataclass(frozen=True)
class LoggedRow:
    raw: str
    commit: str
    value: float | None
    memory_gb: float
    status: str
    description: str


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_line(line: str) -> LoggedRow | None:
    """One `commit  metric  memory_gb  status  description` row; None for the header or junk."""
    raw = line.rstrip("\r\n")
    cols = raw.split("\t")
    if len(cols) < 4 or cols[0].strip().lower() == "commit":
        return None
    return LoggedRow(
        raw=raw.rstrip(),
        commit=cols[0].strip(),
        value=_float(cols[1].strip()),
        memory_gb=_float(cols[2].strip()) or 0.0,
        status=cols[3].strip().lower(),
        description=" ".join("\t".join(cols[4:]).split()),
    )


def read_rows(path: Path) -> list[LoggedRow]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, IsADirectoryError):
        return []
    return [row for row in map(parse_line, text.splitlines()) if row is not None]


def _stat(path: Path) -> tuple | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _reflog_path(worktree: Path) -> Path | None:
    """`logs/HEAD` in the worktree's git dir (a linked worktree's `.git` is a file naming it)."""
    dot_git = worktree / ".git"
    try:
        if dot_git.is_dir():
            return dot_git / "logs" / "HEAD"
        text = dot_git.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    gitdir = Path(text.split(":", 1)[1].strip())
    return (gitdir if gitdir.is_absolute() else worktree / gitdir) / "logs" / "HEAD"


class Observer:
    """Turns the agent's results.tsv rows into ledger experiments. Methods block (git, files)."""

    def __init__(self, pane: Pane):
        self.pane = pane
        self.path = pane.worktree_path / results_tsv.FILENAME
        self._stat: tuple | None = None
        self._head = ""
        self._reflog = _reflog_path(pane.worktree_path)
        self._reflog_stat: tuple | None = None
        self._meta_key = f"observe_preexisting:{pane.name}"

    # ------------------------------------------------------------ rows

    def _known(self) -> Counter:
        """Rows already accounted for: pre-existing ones and every one recorded."""
        ledger = self.pane.ctx.ledger
        known = Counter(json.loads(ledger.get_meta(self._meta_key) or "[]"))
        for row in self.pane.history():
            raw = row.summary.get(_ROW_KEY) if isinstance(row.summary, dict) else None
            if isinstance(raw, str):
                known[raw] += 1
        return known

    def new_rows(self) -> list[LoggedRow]:
        rows = read_rows(self.path)
        ledger = self.pane.ctx.ledger
        if ledger.get_meta(self._meta_key) is None:
            ledger.set_meta(self._meta_key, json.dumps([r.raw for r in rows]))
            return []
        known = self._known()
        fresh = []
        for row in rows:
            if known[row.raw] > 0:
                known[row.raw] -= 1
            else:
                fresh.append(row)
        return fresh

    def changed(self) -> bool:
        stat = _stat(self.path)
        if stat == self._stat:
            return False
        self._stat = stat
        return True

    # ------------------------------------------------------------ recording

    def _resolve(self, short: str) -> str:
        wt = self.pane.wt
        if short and short not in ("-", "0"):
            try:
                return wt.git("rev-parse", "--verify", "--quiet", f"{short}^{{commit}}")
            except GitError:
                return short
        return wt.head()

    def _protected_changes(self, commit: str) -> list[str]:
        pane = self.pane
        changed = set(pane.wt.protected_violations())
        protected = list(pane.workspace.protected)
        if protected and len(commit) == 40:
            try:
                out = pane.wt.git(
                    "diff", "--no-ext-diff", "--no-textconv", "--name-only", pane.base_commit, commit, "--", *protected
                )
                changed.update(line for line in out.splitlines() if line.strip())
            except GitError:
                pass
        return sorted(changed)

    def record(self, row: LoggedRow, *, check_done: bool = True) -> Outcome:
        pane = self.pane
        commit = self._resolve(row.commit)
        status = Status(row.status) if row.status in LOGGED else Status.DISCARD
        reason = f"logged by the agent as {row.status}"
        if row.status not in LOGGED:
            reason = f"the agent logged an unknown status '{row.status}'"
        violations = self._protected_changes(commit)
        if violations:
            status = Status.REJECTED
            reason = f"protected file changed: {', '.join(violations)}"
        metric = row.value if status in (Status.KEEP, Status.DISCARD) else None
        is_baseline = (
            status != Status.REJECTED
            and pane.baseline is None
            and not any(r.is_baseline for r in pane.history())
            and commit == pane.base_commit  # a first row that changed the code is no baseline
        )
        now = time.time()
        experiment = ExperimentRecord(
            pane=pane.name,
            seq=0,  # assigned by the pane
            commit=commit,
            status=status,
            metric=metric,
            description=pane.ctx.redact(row.description)[:500] or "experiment",
            reason=reason,
            memory_gb=row.memory_gb,
            started_at=now,
            finished_at=now,
            slot="agent",
            summary={_ROW_KEY: row.raw},
            is_baseline=is_baseline,
            agent_ref="observed",
        )
        outcome = pane.record_observed(experiment, check_done=check_done)
        if violations:
            pane.alert("warning", f"experiment #{outcome.seq} rejected: {reason} (observed mode)")
        return outcome

    def announce_head(self) -> None:
        """A new commit on the branch that no experiment holds yet: the agent is running it."""
        pane = self.pane
        if self._reflog is not None:  # HEAD moves append to the reflog: no git call until it grows
            stat = _stat(self._reflog)
            if stat is not None and stat == self._reflog_stat:
                return
            self._reflog_stat = stat
        head = pane.wt.head()
        if head == self._head:
            return
        first = not self._head
        self._head = head
        if first or head == pane.base_commit or pane.ctx.ledger.has_commit(pane.name, head):
            return
        ws = pane.workspace
        pane.ctx.bus.publish(
            ExperimentStarted(
                pane=pane.name,
                seq=pane.seq + 1,
                commit=head,
                description=pane.wt.head_message()[:200],
                slot="agent",
                budget_s=ws.time_budget_s,
            )
        )
        pane.set_state("running", "the agent's own run", deadline=time.time() + ws.time_budget_s)

    def poll(self) -> list[Outcome]:
        """One look at results.tsv and the branch; records whatever is new. Raises
        PaneFinished (with the outcome) when a row meets a stop condition."""
        outcomes = [self.record(row) for row in self.new_rows()] if self.changed() else []
        self.announce_head()
        return outcomes


def catch_up(pane: Pane) -> list[str]:
    """At pane start: record rows the agent logged while conductor was not watching."""
    observer = Observer(pane)
    rows = observer.new_rows()
    for row in rows:
        observer.record(row, check_done=False)
    return [f"recorded {len(rows)} results.tsv row(s) logged while conductor was stopped"] if rows else []
