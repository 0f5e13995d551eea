"""The TUI seeded from the standings and each pane's last rows (ui/history_seed.py) shows what
folding every row of the history shows: counts, best, baseline, the last results, the
running-best sparkline, dollars and the rate's start."""

from __future__ import annotations

import random
import time

import pytest

from conductor.core.events import RunStarted
from conductor.core.ledger import Ledger
from conductor.core.standings_keeper import Keeper
from conductor.ui.history_seed import read_seed
from conductor.ui.model import RunModel
from tests.unit.test_standings_checkpoint import History

WINDOW = 7


def model_of(ledger: Ledger) -> RunModel:
    m = RunModel(time.time)
    panes = tuple({"name": p.name, "metric": p.metric, "goal": p.goal} for p in ledger.panes())
    m.apply(RunStarted(run="r", run_dir="d", panes=panes, slots=("gpu0",), ts=time.time()))
    return m


@pytest.mark.parametrize("seed", range(12))
def test_a_seeded_model_shows_what_the_whole_history_shows(tmp_path, seed):
    rng = random.Random(seed)
    ledger = Ledger(tmp_path / "ledger.db")
    history = History(rng)
    history.part(ledger, panes=3, rows=40, edit_programs=False)
    if seed % 2:
        Keeper(ledger).refresh(force=True)  # the fold an orchestra saves, and rows after it
        history.part(ledger, panes=3, rows=10, edit_programs=False)
    full = model_of(ledger)
    full.load_history(ledger.experiments(), {p.name: ledger.usage_totals(p.name).usd for p in ledger.panes()})
    seeded = model_of(ledger)
    if seed % 3:
        seeded.load_seed(read_seed(ledger.path, list(seeded.panes), WINDOW, now=1e12))
    else:  # as the app folds it in: a pane at a time, the loop free between them
        pieces = list(seeded.seed_pieces(read_seed(ledger.path, list(seeded.panes), WINDOW, now=1e12)))
        assert len(pieces) == len(seeded.panes)
    for name, a in full.panes.items():
        b = seeded.panes[name]
        assert b.counts == a.counts and b.experiments == a.experiments, name
        assert (b.tally.since_keep, b.tally.last_keep_at, b.tally.best) == (
            a.tally.since_keep,
            a.tally.last_keep_at,
            a.tally.best,
        )
        assert (b.best, b.baseline, b.max_seq_loaded) == (a.best, a.baseline, a.max_seq_loaded), name
        assert [e.seq for e in b.recent] == [e.seq for e in a.recent][-WINDOW:]
        assert [(e.best, e.baseline) for e in b.recent] == [(e.best, e.baseline) for e in a.recent][-WINDOW:]
        assert b.best_series == a.best_series[-len(b.best_series) :]
        assert b.usd_total == pytest.approx(a.usd_total) if a.usd_total else not b.usd_total
    assert seeded.started_at == full.started_at == min(r.started_at for r in ledger.experiments() if r.started_at)
    ledger.close()
