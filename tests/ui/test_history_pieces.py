"""The TUI's history comes in pieces while the run goes on: results that arrive meanwhile wait
(`Bridge.hold`) and fold after it, so each pane's standings fold in seq order and nothing
is counted twice or lost."""

from __future__ import annotations

from fakes import NOW, scripted_run

from conductor.core.events import ExperimentFinished
from conductor.core.record import ExperimentRecord
from conductor.ui.bridge import Bridge
from conductor.ui.model import RunModel


def row(e: ExperimentFinished) -> ExperimentRecord:
    return ExperimentRecord(
        pane=e.pane,
        seq=e.seq,
        commit=e.commit,
        status=e.status,
        metric=e.metric,
        is_baseline=e.is_baseline,
        started_at=e.ts - 1.0,
        finished_at=e.ts,
    )


def test_results_during_the_history_load_fold_after_it_in_order():
    m = RunModel(lambda: NOW)
    events = scripted_run(1)
    finished = [e for e in events if isinstance(e, ExperimentFinished)]
    assert len(finished) >= 4
    history, live = finished[:-2], finished[-2:]
    bridge = Bridge(m, on_run_started=lambda _: bridge.hold())
    for e in events:
        if not isinstance(e, ExperimentFinished):
            bridge(e)
    for e in live:  # recorded after this start: they reach the bridge before the history is in
        bridge(e)
    bridge.drain()
    p = m.panes["tinygpt"]
    assert p.experiments == 0  # held
    folded = 0
    for piece in (history[:2], history[2:]):
        m.load_history([row(e) for e in piece])
        bridge.drain()
        folded += len(piece)
        assert p.experiments == folded  # the held results still wait
    bridge.release()
    bridge.drain()
    assert p.experiments == len(finished)
    assert [e.seq for e in p.recent][-2:] == [e.seq for e in live]
