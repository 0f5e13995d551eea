"""A stop whose cancel is lost still stops the pane. On Python 3.11 `asyncio.wait_for` returns
its inner result, dropping the cancellation, when both land together; the orchestra then ran
on after `stop` with nothing left to cancel it. Here the agent drops the cancel on purpose (as
that race does) and asks for another experiment: the pane refuses to start it, and the run ends
with no experiment begun after the stop."""

import asyncio
import time

from engine_helpers import check_invariants

from conductor.config import load_config
from conductor.core.events import ExperimentFinished
from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra
from tests.conftest import write_config


class DropsOneCancel:
    kind = "drops-one-cancel"

    def __init__(self) -> None:
        self.dropped = 0
        self.stopped_at: float | None = None

    async def run(self, session) -> None:
        n = 0
        while True:
            n += 1
            try:
                await session.run_experiment(f"try {n}")
            except asyncio.CancelledError:
                if self.dropped:
                    raise
                self.dropped += 1  # the lost cancel: go on as if nothing happened
                self.stopped_at = time.time()


def test_a_pane_whose_cancel_was_lost_starts_no_new_experiment(tmp_path, fastws):
    agent = DropsOneCancel()
    cfg = load_config(write_config(tmp_path, fastws))
    orch = Orchestra(cfg, agent_factory=lambda _config: agent)
    finished: list[ExperimentFinished] = []
    orch.bus.subscribe(lambda e: finished.append(e) if isinstance(e, ExperimentFinished) else None)
    orch.open()

    async def main() -> None:
        run = asyncio.create_task(orch.run())
        while len(finished) < 3:
            await asyncio.sleep(0.02)
        orch.stop()
        await asyncio.wait_for(run, 30)

    try:
        asyncio.run(main())
    finally:
        orch.close()
    assert agent.dropped == 1 and agent.stopped_at is not None
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db", readonly=True)
    try:
        rows = ledger.experiments("fast")
    finally:
        ledger.close()
    assert all(r.started_at <= agent.stopped_at for r in rows if r.started_at)
    check_invariants(tmp_path / ".conductor")
