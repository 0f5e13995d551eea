"""One experiment record: the event and the agent's outcome are derived from it, never copied."""

from __future__ import annotations

import json

from conductor.core.events import ExperimentFinished, event_from_dict
from conductor.core.outcome import Outcome
from conductor.core.record import ExperimentRecord, Standing, Status, delta, improvement


def test_event_and_outcome_come_from_the_one_record():
    record = ExperimentRecord(
        pane="p1",
        seq=4,
        commit="a" * 40,
        status="keep",
        metric=1.5,
        description="halve lr",
        reason="better by 0.5",
        started_at=10.0,
        finished_at=22.5,
        slot="cpu0",
        log_path="/l/0004.log",
        program_sha="abc123",
    )
    assert record.status is Status.KEEP  # text from the ledger or a socket becomes the enum
    standing = Standing(metric_name="val_bpb", goal="min", best=1.5, previous_best=2.0, baseline=2.5)
    event = ExperimentFinished.of(record, standing)
    outcome = Outcome.of(record, standing, log_tail="")
    for name in ("seq", "commit", "status", "metric", "description", "reason", "duration_s"):
        assert getattr(event, name) == getattr(outcome, name) == getattr(record, name)
    assert event.delta == outcome.delta == delta(1.5, 2.0) == -0.5
    assert event.program_sha == "abc123" and event.duration_s == 12.5
    wire = event_from_dict(json.loads(json.dumps(event.to_dict())))
    assert wire == event and wire.status == "keep"
    assert "KEEP" in outcome.text() and "delta -0.500000" in outcome.text()


def test_improvement_is_positive_when_better_whatever_the_goal():
    assert improvement("min", 2.0, 1.5) == 0.5
    assert improvement("max", 2.0, 1.5) == -0.5
    assert delta(None, 1.0) is None and delta(1.0, None) is None
