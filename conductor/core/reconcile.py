"""Making a pane's worktree, ledger and results.tsv agree after any kind of stop.

On every start the ledger is the truth: the best is the last kept row; a commit at HEAD
that no row holds was an experiment in flight when conductor died, and is recorded as
interrupted (its tree kept under a ref for diffs, its log found where the run wrote it, its
finish the log's last write), or dropped when it had no log yet (still queued for a slot); whatever else the worktree holds is reset to the best commit. Blocking
(git); the pane runs it in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conductor.core.board import Migration
from conductor.core.ledger import Ledger
from conductor.core.record import ExperimentRecord, Status
from conductor.core.workspace import Worktree

INTERRUPTED_AT_STOP = "interrupted: conductor stopped before this experiment finished"


@dataclass(frozen=True)
class BestSoFar:
    best: float | None
    best_commit: str
    baseline: float | None


def best_so_far(rows: list[ExperimentRecord], base_commit: str, migrations: Sequence[Migration] = ()) -> BestSoFar:
    """The last keep, or the sibling's best the pane moved onto after it (core/peers.py)."""
    best, best_commit, baseline = None, base_commit, None
    moves = sorted(migrations, key=lambda m: m.after_seq)
    for r in rows:
        while moves and moves[0].after_seq < r.seq:
            move = moves.pop(0)
            best, best_commit = move.best_after, move.to_commit
        if r.is_baseline and r.metric is not None and baseline is None:
            baseline = r.metric
        if r.status == Status.KEEP:
            best, best_commit = r.metric, r.commit
    if moves:
        best, best_commit = moves[-1].best_after, moves[-1].to_commit
    return BestSoFar(best, best_commit, baseline)


@dataclass
class PutBack:
    notes: list[str] = field(default_factory=list)  # for the pane's activity
    seq: int = 0  # the last seq used
    interrupted: ExperimentRecord | None = None  # the row recorded for the experiment found at HEAD


def put_back(
    wt: Worktree,
    ledger: Ledger,
    *,
    pane: str,
    seq: int,
    base_commit: str,
    best_commit: str,
    tried_ref: Callable[[int], str],
    log_path: Callable[[int, str], Path],
    program_sha: str = "",
) -> PutBack:
    """Put the worktree back at the best commit, recording an interrupted experiment found at
    HEAD. `log_path(seq, commit)` is where that experiment's run wrote its log: without one it
    never got a slot, and is no row (only what ran can have been interrupted)."""
    out = PutBack(seq=seq)
    head = wt.head()
    if head != best_commit:
        log = log_path(seq + 1, head)
        if not ledger.has_commit(pane, head) and head != base_commit and not log.exists():
            out.notes.append(f"dropped experiment {head[:7]}: it was still waiting for a slot")
        elif not ledger.has_commit(pane, head) and head != base_commit:
            out.seq = seq = seq + 1
            started, finished = _span(log)
            out.interrupted = ExperimentRecord(
                pane=pane,
                seq=seq,
                commit=head,
                status=Status.INTERRUPTED,
                metric=None,
                description=wt.head_message()[:200],
                reason=INTERRUPTED_AT_STOP,
                parent=best_commit,
                started_at=started,
                finished_at=finished,
                log_path=str(log),
                program_sha=program_sha,
            )
            ledger.record_experiment(out.interrupted)
            wt.keep_ref(tried_ref(seq), head)
            out.notes.append(f"recorded interrupted experiment {head[:7]}")
        wt.reset_to(best_commit)
    elif not wt.is_clean():
        wt.reset_to(best_commit)
        out.notes.append("reset uncommitted changes in the worktree")
    return out


def _span(log: Path) -> tuple[float, float]:
    """When the interrupted run last wrote its log; its start is unknown, so it is given no
    duration rather than one counted from the restart."""
    try:
        last = log.stat().st_mtime
    except OSError:
        last = time.time()
    return last, last
