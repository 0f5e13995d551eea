"""A saved fold carried on over the rows after it equals the full fold over every row.

Random ledgers written in two parts with a fold saved between them (as the orchestra's keeper
saves one): more rows and usage after it, usage spent before the fold's last finish but
written after it, program edits, new panes, ties in finish times at the fold's edge.
"""

from __future__ import annotations

import random

import pytest

from conductor.core import standings_checkpoint as checkpoint
from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.record import ExperimentRecord
from conductor.core.standings import pane_standings
from conductor.core.standings_keeper import Keeper
from conductor.core.standings_sql import standings_from_ledger
from tests.unit.test_standings_sql import STATUSES, assert_same


class History:
    """Panes whose rows go on where the last part left them."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.clock: dict[str, float] = {}
        self.seq: dict[str, int] = {}
        self.program: dict[str, str] = {}

    def part(self, ledger: Ledger, panes: int, rows: int, edit_programs: bool) -> None:
        rng = self.rng
        for i in range(panes):
            name = f"p{i}"
            if name not in self.program or (edit_programs and rng.random() < 0.3):
                self.program[name] = f"sha{rng.randint(0, 3)}"
                ledger.upsert_pane(
                    PaneRecord(name, "ws", "optuna", "", "b", "w", "loss", "min" if i % 2 else "max", "c0",
                               self.program[name], 1.0, i)
                )  # fmt: skip
            t = self.clock.setdefault(name, 1000.0)
            for _ in range(rng.randint(0, rows)):
                seq = self.seq[name] = self.seq.get(name, 0) + 1
                start = t
                t += rng.choice((0.0, 5.0, 10.0))  # equal finish times happen, at the fold's edge too
                ledger.record_experiment(
                    ExperimentRecord(
                        pane=name,
                        seq=seq,
                        commit=f"{name}-{seq}",
                        status=rng.choice(STATUSES),
                        metric=rng.choice((None, rng.uniform(0, 2), rng.uniform(0, 2))),
                        started_at=rng.choice((start, 0.0)) if seq > 1 else start,
                        finished_at=t,
                        slot=rng.choice(("gpu0", "cpu1", "", "n1:gpu0")),
                        is_baseline=rng.random() < (0.5 if seq < 4 else 0.05),
                        program_sha=rng.choice((self.program[name], f"sha{rng.randint(0, 3)}", "")),
                    )
                )
            self.clock[name] = t
            for _ in range(rng.randint(0, 10)):  # spent before, between and after the rows (and the fold)
                ts = rng.choice((990.0, t + 1, 1000.0 + 5.0 * rng.randint(0, int((t - 990) / 5) + 2)))
                ledger.record_usage(name, "m", input=rng.randint(0, 99), output=7, cache_read=3, usd=0.25, ts=ts)


def full_fold(ledger: Ledger):
    usage: dict[str, list] = {}
    for u in ledger.usage_rows():
        usage.setdefault(u.pane, []).append(u)
    return [pane_standings(p, ledger.experiments(p.name), usage.get(p.name, [])) for p in ledger.panes()]


@pytest.mark.parametrize("seed", range(60))
def test_a_saved_fold_carried_on_equals_the_full_fold(tmp_path, seed):
    rng = random.Random(seed)
    ledger = Ledger(tmp_path / "ledger.db")
    history = History(rng)
    history.part(ledger, panes=rng.randint(1, 3), rows=30, edit_programs=False)
    keeper = Keeper(ledger)
    assert keeper.refresh(force=True)
    for _ in range(rng.randint(1, 3)):
        history.part(ledger, panes=rng.randint(1, 4), rows=15, edit_programs=seed % 3 == 0)
        reader = Ledger.reader(tmp_path)
        assert_same(standings_from_ledger(reader), full_fold(ledger))
        reader.close()
        if rng.random() < 0.5:
            keeper.refresh(force=True)  # a fold saved over a fold
    reader = Ledger.reader(tmp_path)
    assert_same(standings_from_ledger(reader), full_fold(ledger))
    assert checkpoint.saved(reader) is not None
    reader.close()
    ledger.close()


def test_the_fold_is_used_when_it_can_go_on_and_the_slots_add_up(tmp_path, monkeypatch):
    ledger = Ledger(tmp_path / "ledger.db")
    history = History(random.Random(7))
    history.clock = {f"p{i}": 1000.0 + 100 * i for i in range(3)}
    history.part(ledger, panes=3, rows=40, edit_programs=False)
    Keeper(ledger).refresh(force=True)
    for name in history.clock:
        history.clock[name] += 1.0  # no tie at the fold's edge: it can go on
    history.part(ledger, panes=3, rows=20, edit_programs=False)
    calls = []
    real = checkpoint.from_aggregates
    monkeypatch.setattr(checkpoint, "from_aggregates", lambda *a: calls.append(1) or real(*a))
    reader = Ledger.reader(tmp_path)
    fold, panes, pending = checkpoint.current(reader)
    assert calls == []
    assert_same(checkpoint.standings(fold, panes, pending), full_fold(ledger))
    rows = [r for r in ledger.experiments() if r.slot]
    spans = {s: (n, busy, last) for s, n, busy, _, last in checkpoint.slot_spans(fold, reader, 0.0)}
    for slot in {r.slot for r in rows}:
        mine = [r for r in rows if r.slot == slot]
        assert spans[slot][0] == len(mine)
        assert spans[slot][1] == pytest.approx(sum(max(0.0, r.finished_at - r.started_at) for r in mine))
        assert spans[slot][2] == max(r.finished_at for r in mine)
    reader.close()
    ledger.close()


def test_a_fold_from_an_unknown_format_or_garbage_is_not_used(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    History(random.Random(1)).part(ledger, panes=2, rows=20, edit_programs=False)
    for raw in ("{not json", '{"format": 99}', '{"format": 1, "panes": 3}'):
        ledger.set_meta(checkpoint.META_KEY, raw)
        reader = Ledger.reader(tmp_path)
        assert_same(standings_from_ledger(reader), full_fold(ledger))
        reader.close()
    ledger.close()


def test_the_keeper_saves_only_when_enough_rows_came(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    history = History(random.Random(2))
    history.part(ledger, panes=1, rows=10, edit_programs=False)
    keeper = Keeper(ledger, every=50)
    assert keeper.refresh()  # none saved yet
    assert not keeper.refresh()
    assert not keeper.refresh(force=True)  # nothing new at all
    before = checkpoint.saved(ledger).exp_id
    history.part(ledger, panes=1, rows=5, edit_programs=False)
    assert not keeper.refresh()
    assert keeper.refresh(force=True) == (len(ledger.experiments()) > before)
    ledger.close()
