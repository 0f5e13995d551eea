"""Standings from aggregate queries equal the full fold over every row (core/standings.py).

Random ledgers: several panes, program edits mid-run, baselines that crash or come late,
keeps without a metric, interrupted runs, rows on GPU, CPU and no slot, and usage spent
before, between and after experiments (ties in finish times included).
"""

from __future__ import annotations

import random

import pytest

from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.record import ExperimentRecord
from conductor.core.standings import Tally, pane_standings
from conductor.core.standings_sql import slot_spans, standings_by_aggregates, standings_from_ledger

STATUSES = ("keep", "discard", "crash", "rejected", "interrupted")
SHARE_FIELDS = ("experiments", "counts", "improvement", "slot_seconds", "slot_kinds", "first_start", "last_finish")
TOTAL_FIELDS = (*SHARE_FIELDS, "baseline", "best", "best_commit", "last_keep_at", "since_keep")


def fill(ledger: Ledger, rng: random.Random) -> None:
    for i in range(rng.randint(1, 4)):
        name = f"p{i}"
        programs = [f"sha{k}" for k in range(rng.randint(1, 3))]
        ledger.upsert_pane(
            PaneRecord(
                name, "ws", "optuna", "", "b", "w", "loss", rng.choice(("min", "max")), "c0", programs[-1], 1.0, i
            )
        )
        t = 1000.0
        for seq in range(1, rng.randint(0, 40) + 1):
            status = rng.choice(STATUSES)
            metric = rng.choice((None, rng.uniform(0, 2), rng.uniform(0, 2)))
            start = t
            t += rng.choice((0.0, 5.0, 10.0))  # equal finish times happen
            program = programs[min(len(programs) - 1, seq // 15)]
            ledger.record_experiment(
                ExperimentRecord(
                    pane=name,
                    seq=seq,
                    commit=f"{name}-{seq}",
                    status=status,
                    metric=metric,
                    started_at=rng.choice((start, 0.0)) if seq > 1 else start,
                    finished_at=t,
                    slot=rng.choice(("gpu0", "cpu1", "", "n1:gpu0")),
                    is_baseline=rng.random() < (0.5 if seq < 4 else 0.05),
                    program_sha=rng.choice((program, "")),
                )
            )
        for _ in range(rng.randint(0, 15)):
            ledger.record_usage(
                name, "m", input=rng.randint(0, 99), output=7, cache_read=3, usd=0.25, ts=rng.choice((990.0, t + 1))
                if rng.random() < 0.3 else 1000.0 + 5.0 * rng.randint(0, 80)
            )  # fmt: skip


def comparable(t: Tally, fields: tuple[str, ...]) -> dict:
    out = {f: getattr(t, f) for f in fields}
    out["usage"] = (t.usage.input, t.usage.output, t.usage.cache_write, t.usage.cache_read, round(t.usage.usd, 9))
    if out["improvement"] is not None:
        out["improvement"] = round(out["improvement"], 9)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_aggregates_equal_the_full_fold(tmp_path, seed):
    ledger = Ledger(tmp_path / "ledger.db")
    fill(ledger, random.Random(seed))
    usage = {}
    for u in ledger.usage_rows():
        usage.setdefault(u.pane, []).append(u)
    full = [pane_standings(p, ledger.experiments(p.name), usage.get(p.name, [])) for p in ledger.panes()]
    assert_same(standings_from_ledger(ledger), full)
    assert_same(standings_by_aggregates(ledger), full)
    ledger.close()


def assert_same(fast, full) -> None:
    assert [s.name for s in fast] == [s.name for s in full]
    for a, b in zip(fast, full, strict=True):
        assert comparable(a.total, TOTAL_FIELDS) == comparable(b.total, TOTAL_FIELDS), a.name
        assert list(a.versions) == list(b.versions), a.name
        for sha in a.versions:
            assert comparable(a.versions[sha], SHARE_FIELDS) == comparable(b.versions[sha], SHARE_FIELDS), (a.name, sha)


def test_slot_spans_add_up_the_rows(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    fill(ledger, random.Random(3))
    rows = [r for r in ledger.experiments() if r.slot]
    by_slot = {s: (n, busy) for s, n, busy, _, _ in slot_spans(ledger, 0.0)}
    for slot in {r.slot for r in rows}:
        mine = [r for r in rows if r.slot == slot]
        assert by_slot[slot][0] == len(mine)
        assert by_slot[slot][1] == pytest.approx(sum(max(0.0, r.finished_at - r.started_at) for r in mine))
    ledger.close()
