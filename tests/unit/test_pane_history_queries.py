"""The per-experiment questions a pane asks of its history, answered by one query each, equal
what a walk over every row of it answers (the walk the loop used to make after each run)."""

from __future__ import annotations

import random

import pytest

from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.pane_history import baseline_cpu_share, rows_since
from conductor.core.record import ExperimentRecord, Status


def walked_since(rows: list[ExperimentRecord], since_seq: int) -> int:
    stale = 0
    for r in reversed(rows):
        if r.status == Status.KEEP or r.seq <= since_seq:
            break
        stale += 1
    return stale


@pytest.mark.parametrize("seed", range(20))
def test_the_queries_equal_the_walks(tmp_path, seed):
    rng = random.Random(seed)
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.upsert_pane(PaneRecord("p", "ws", "optuna", "", "b", "w", "loss", "min", "c0"))
    for seq in range(1, rng.randint(0, 30) + 1):
        ledger.record_experiment(
            ExperimentRecord(
                pane="p",
                seq=seq,
                commit=f"c{seq}",
                status=rng.choice(("keep", "discard", "crash", "discard")),
                metric=rng.random(),
                is_baseline=rng.random() < 0.2,
                cpu_share=rng.choice((None, 0.0, rng.uniform(0.5, 2.0))),
            )
        )
    rows = ledger.experiments("p")
    for since in (0, 3, 10, 40):
        assert rows_since(ledger, "p", since) == walked_since(rows, since)
    assert baseline_cpu_share(ledger, "p") == next((r.cpu_share for r in rows if r.is_baseline and r.cpu_share), None)
    ledger.close()
