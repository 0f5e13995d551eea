"""Making a pane's worktree, ledger and results.tsv agree after any kind of stop.

On every start the ledger is the truth: the best is the last kept row; a commit at HEAD
that no row holds was an experiment in flight when conductor died, and is recorded as a
crash (its tree kept under a ref for diffs); whatever else the worktree holds is reset to
the best commit. Blocking (git); the pane runs it in a thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from conductor.core.ledger import Ledger
from conductor.core.record import ExperimentRecord, Status
from conductor.core.workspace import Worktree

INTERRUPTED_AT_STOP = "interrupted: conductor stopped before this experiment finished"


@dataclass(frozen=True)
class BestSoFar:
    best: float | None
    best_commit: str
    baseline: float | None


def put_back(
    wt: Worktree,
    ledger: Ledger,
    *,
    pane: str,
    seq: int,
    base_commit: str,
    best_commit: str,
    tried_ref: Callable[[int], str],
    program_sha: str = "",
) -> tuple[list[str], int]:
    """Put the worktree back at the best commit, recording an interrupted experiment found at
    HEAD. Returns notes for the pane's activity and the last seq used."""
    notes = []
    head = wt.head()
    if head != best_commit:
        if not ledger.has_commit(pane, head) and head != base_commit:
            seq += 1
            now = time.time()
            ledger.record_experiment(
                ExperimentRecord(
                    pane=pane,
                    seq=seq,
                    commit=head,
                    status=Status.INTERRUPTED,
                    metric=None,
                    description=wt.head_message()[:200],
                    reason=INTERRUPTED_AT_STOP,
                    parent=best_commit,
                    started_at=now,
                    finished_at=now,
                    program_sha=program_sha,
                )
            )
            wt.keep_ref(tried_ref(seq), head)
            notes.append(f"recorded interrupted experiment {head[:7]}")
        wt.reset_to(best_commit)
    elif not wt.is_clean():
        wt.reset_to(best_commit)
        notes.append("reset uncommitted changes in the worktree")
    return notes, seq
