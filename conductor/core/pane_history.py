"""What a pane asks of its own history while it runs, answered by small queries.

A start needs the last seq, the best so far and the baseline; every experiment asks whether
there is a baseline yet and how many tries since the last keep. Reading every row of the
pane for these made a resume and each experiment cost more as a run grew; here each is
one indexed query (experiments (pane, seq)), the same at 50 rows or 50,000.
"""

from __future__ import annotations

from collections.abc import Sequence

from conductor.core.board import Migration
from conductor.core.ledger import Ledger
from conductor.core.reconcile import BestSoFar


def resume_point(
    ledger: Ledger, pane: str, base_commit: str, migrations: Sequence[Migration] = ()
) -> tuple[int, BestSoFar]:
    """The pane's last seq, and its best so far: the best is the last kept row (the base
    commit before any), or the sibling's best the pane last moved onto when it moved after
    that keep (`reconcile.best_so_far`, the same fold over every row); the baseline the first
    baseline row with a metric."""
    seq = ledger.select("SELECT COALESCE(MAX(seq), 0) FROM experiments WHERE pane = ?", (pane,))[0][0]
    kept = ledger.select(
        "SELECT metric, commit_sha, seq FROM experiments WHERE pane = ? AND status = 'keep' ORDER BY seq DESC LIMIT 1",
        (pane,),
    )
    base = ledger.select(
        "SELECT metric FROM experiments WHERE pane = ? AND is_baseline = 1 AND metric IS NOT NULL ORDER BY seq LIMIT 1",
        (pane,),
    )
    best, best_commit, kept_seq = kept[0] if kept else (None, base_commit, 0)
    move = max(migrations, key=lambda m: m.after_seq, default=None)
    if move is not None and move.after_seq >= kept_seq:  # the move came after the last keep
        best, best_commit = move.best_after, move.to_commit
    return seq, BestSoFar(best, best_commit, base[0][0] if base else None)


def has_baseline(ledger: Ledger, pane: str) -> bool:
    return bool(ledger.select("SELECT 1 FROM experiments WHERE pane = ? AND is_baseline = 1 LIMIT 1", (pane,)))


def rows_since_keep(ledger: Ledger, pane: str) -> int:
    """Rows recorded after the pane's last kept row (all of them when none was kept)."""
    return ledger.select(
        "SELECT COUNT(*) FROM experiments WHERE pane = ? AND seq >"
        " COALESCE((SELECT MAX(seq) FROM experiments WHERE pane = ? AND status = 'keep'), 0)",
        (pane, pane),
    )[0][0]


def rows_since(ledger: Ledger, pane: str, since_seq: int) -> int:
    """Rows after both the pane's last kept row and `since_seq`."""
    return ledger.select(
        "SELECT COUNT(*) FROM experiments WHERE pane = ? AND seq > MAX(?,"
        " COALESCE((SELECT MAX(seq) FROM experiments WHERE pane = ? AND status = 'keep'), 0))",
        (pane, since_seq, pane),
    )[0][0]


def baseline_cpu_share(ledger: Ledger, pane: str) -> float | None:
    """The CPU share of the pane's first baseline that has one (core/starved.py), or None."""
    if ledger.schema_version < 4:
        return None
    rows = ledger.select(
        "SELECT cpu_share FROM experiments WHERE pane = ? AND is_baseline = 1 AND cpu_share IS NOT NULL"
        " AND cpu_share != 0 ORDER BY seq LIMIT 1",
        (pane,),
    )
    return rows[0][0] if rows else None
