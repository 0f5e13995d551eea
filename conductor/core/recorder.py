"""Recording a settled experiment: the ledger first, then results.tsv, then the event.

That order is the engine's promise: whatever reached a screen is already durable, and
results.tsv (the autoresearch format, kept for the agent and for upstream tools) can always
be rebuilt from the ledger. The agent's `Outcome` comes back from the same record.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from conductor.core import results_tsv
from conductor.core.bus import EventBus
from conductor.core.events import ExperimentFinished
from conductor.core.ledger import Ledger
from conductor.core.outcome import Outcome
from conductor.core.record import ExperimentRecord, Standing


class Recorder:
    def __init__(self, pane: str, metric: str, ledger: Ledger, bus: EventBus, worktree: Path):
        self.pane = pane
        self.metric = metric
        self.ledger = ledger
        self.bus = bus
        self.tsv = worktree / results_tsv.FILENAME

    def record(
        self, record: ExperimentRecord, standing: Standing, *, log_tail: str = "", write_tsv: bool = True
    ) -> Outcome:
        """Blocking. `write_tsv=False` where the agent keeps results.tsv itself (observed mode)."""
        self.ledger.record_experiment(record, standing.previous_best)
        if write_tsv:
            with contextlib.suppress(OSError):
                if self.tsv.is_file():
                    results_tsv.append(self.tsv, self.metric, record)
                else:  # deleted under us (by an experiment, by hand): the ledger has every row
                    self.rewrite_tsv()
        self.bus.publish(ExperimentFinished.of(record, standing))
        return Outcome.of(record, standing, log_tail)

    def rewrite_tsv(self) -> None:
        results_tsv.rewrite(self.tsv, self.metric, self.ledger.experiments(self.pane))

    def sync_tsv(self) -> str:
        """results.tsv level with the ledger at a start, appending rather than rewriting where it agrees."""
        count = self.ledger.experiment_count(self.pane)
        return results_tsv.sync(self.tsv, self.metric, count, lambda n: self.ledger.recent_experiments(self.pane, n))
