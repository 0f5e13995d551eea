"""What a pane does with the other panes of its workspace, through the board (core/board.py):
name its change, refuse an exact repeat, claim the idea it runs, and move onto a sibling's
better best when its own line has gone stale (`migrate_after`).

Blocking (git, ledger) except `claimed`; the loop calls these from core/loop.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from conductor.core.board import Migration, Repeat
from conductor.core.knobs import knob_set
from conductor.core.outcome import NOTE_PREFIX, Outcome
from conductor.core.pane_history import rows_since
from conductor.core.record import Status, improvement

if TYPE_CHECKING:
    from conductor.core.loop import Pane

CHANGE_CHARS = 300


@dataclass(frozen=True)
class Change:
    summary: str  # the knob set, or `file +added -removed` per file against the best
    key: str  # the tree the experiment ran (see core/board.py)


def change_of(pane: Pane, commit: str) -> Change:
    """The change a commit makes, read right after it was committed (the worktree holds it)."""
    wt = pane.wt
    key = wt.git("rev-parse", f"{commit}^{{tree}}")
    if pane.workspace.knobs:
        summary = knob_set(pane.worktree_path, pane.workspace.knobs)
    elif commit == pane.best_commit:
        summary = ""
    else:
        parts = []
        for line in wt.git("diff", "--numstat", pane.best_commit, commit).splitlines():
            added, removed, path = (line.split("\t", 2) + ["", ""])[:3]
            parts.append(f"{path} +{added} -{removed}")
        summary = "; ".join(parts)
    return Change(summary[:CHANGE_CHARS], key)


def find_repeat(pane: Pane, change: Change, description: str) -> Repeat | None:
    if not pane.workspace.no_repeats:
        return None
    return pane.ctx.board(pane.workspace.name).find_repeat(pane.name, change.key, description)


def refuse(pane: Pane, commit: str, description: str, agent_ref: str, change: Change, repeat: Repeat) -> Outcome:
    """An exact repeat is not run: a rejected row that names what it repeats, the tried commit
    kept under its ref, the tree back at the best; the agent reads what the earlier one gave."""
    reason = repeat.text(pane.workspace.metric)
    record = pane._new_record(
        commit,
        Status.REJECTED,
        description,
        reason,
        agent_ref=agent_ref,
        change=change.summary,
        change_key=change.key,
    )
    outcome = pane.recorder.record(record, pane._standing(pane.best))
    if commit != pane.best_commit:
        pane.wt.keep_ref(pane._tried_ref(record.seq), commit)
    pane.wt.reset_to(pane.best_commit)
    pane.activity("info", f"not run: {reason}")
    return replace(outcome, metric=repeat.metric, note=f"Not run: {reason}.")


@contextlib.asynccontextmanager
async def claimed(pane: Pane, change: Change, description: str) -> AsyncIterator[None]:
    """The idea is on the board as in flight while the block runs. The claim and its release
    are ledger writes, made off the loop: on it they waited up to 0.3 s for the ledger's lock."""
    board = pane.ctx.board(pane.workspace.name)
    try:
        await asyncio.to_thread(board.claim, pane.name, change.key, description)
        yield
    finally:
        try:
            await asyncio.to_thread(board.release, pane.name)
        except asyncio.CancelledError:
            board.release(pane.name)  # a stop: released before the pane's task ends (it is idempotent)
            raise


def stale_for(pane: Pane, since_seq: int) -> int:
    """Experiments since the pane's last keep (or its last move, at `since_seq`)."""
    return rows_since(pane.ctx.ledger, pane.name, since_seq)


def migrate_if_stale(pane: Pane) -> Migration | None:
    """After `migrate_after` experiments without a keep, move onto the best of another pane of
    the workspace when it beats this pane's best by more than the keep threshold (the noise
    floor): the branch is reset to that commit, the move recorded, shown and told."""
    ws = pane.workspace
    if not ws.migrate_after or pane.best is None:
        return None
    board = pane.ctx.board(ws.name)
    earlier = board.migrations(pane.name)
    stale = stale_for(pane, earlier[-1].after_seq if earlier else 0)
    if stale < ws.migrate_after:
        return None
    other = board.best_elsewhere(pane.name, ws.goal)
    if other is None or other.metric is None:
        return None
    margin = improvement(ws.goal, pane.best, other.metric)
    if margin <= pane.trust.keep_threshold():
        return None
    move = Migration(
        pane=pane.name,
        ts=time.time(),
        after_seq=pane.seq,
        from_commit=pane.best_commit,
        to_commit=other.commit,
        source_pane=other.pane,
        source_seq=other.seq,
        best_before=pane.best,
        best_after=other.metric,
    )
    pane.wt.reset_to(other.commit)
    board.record_migration(move)
    before = pane.best
    pane.best, pane.best_commit = other.metric, other.commit
    text = (
        f"migrated onto {other.pane}'s best (#{other.seq}, {ws.metric} {other.metric:.6f}, better by {margin:.4g} "
        f"than this pane's {before:.6f}) after {stale} experiments without a keep"
    )
    pane.activity("info", text)
    pane.alert("info", text)
    pane.tell(f"{NOTE_PREFIX}This pane {text}: the worktree now holds that code; build on it.")
    return move
