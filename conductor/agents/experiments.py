"""How an external agent's experiments reach the ledger, and how many it has run.

Managed: the agent runs `conductor exp -m ...`; the control server hands each request to
`take`, one at a time per pane. Observed: the agent runs and logs experiments itself, as
its program says, and `watch` records every results.tsv row it adds. Either way the count
per process and per turn tells the supervisor whether an exit or a turn did real work, and
a pane that is finished or broken ends the agent through `stop_with`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

from conductor.core.agent import PaneSession
from conductor.core.outcome import NOTE_PREFIX, Outcome, PaneFinished
from conductor.core.record import Status
from conductor.errors import ConductorError

if TYPE_CHECKING:
    from conductor.core.observe import Observer

OBSERVE_EVERY_S = 0.5


class Experiments:
    def __init__(
        self,
        session: PaneSession,
        label: str,
        *,
        agent_ref: Callable[[], str],
        stop_with: Callable[[BaseException], None],
        tell: Callable[[str], None],
    ):
        self.session = session
        self.label = label
        self.agent_ref = agent_ref
        self.stop_with = stop_with
        self.tell = tell  # a note for the agent's next prompt
        self.in_process = 0  # experiments since the agent process started
        self.in_turn = 0  # ... since its current turn started
        self._request: asyncio.Task | None = None
        self._watcher: asyncio.Task | None = None
        self._observer: Observer | None = None
        self._poll_lock = asyncio.Lock()

    def new_process(self) -> None:
        self.in_process = self.in_turn = 0

    def end_turn(self) -> bool:
        """Whether the turn that just ended ran an experiment."""
        productive, self.in_turn = self.in_turn > 0, 0
        return productive

    def _counted(self) -> None:
        self.in_process += 1
        self.in_turn += 1

    # ------------------------------------------------------------ managed: `conductor exp`

    async def take(self, description: str) -> Outcome:
        if self._request is not None and not self._request.done():
            raise ConductorError("an experiment of this pane is already running: wait for its outcome")
        self._request = asyncio.create_task(self._run(description))
        return await asyncio.shield(self._request)

    async def _run(self, description: str) -> Outcome:
        try:
            outcome = await self.session.run_experiment(description, agent_ref=self.agent_ref())
        except PaneFinished as done:
            self._counted()
            self.stop_with(done)
            raise
        except ConductorError as exc:
            self.stop_with(exc)
            raise
        except Exception as exc:  # the pane fails with it; the agent gets one line
            self.stop_with(exc)
            raise ConductorError(f"conductor could not run the experiment: {exc.__class__.__name__}: {exc}") from None
        self._counted()
        return outcome

    # ------------------------------------------------------------ observed: the agent's own rows

    def watch(self) -> None:
        """Start recording the rows the agent logs, until `close`."""
        self._observer = self.session.observer()
        self._watcher = asyncio.create_task(self._watch(), name=f"observe:{self.session.name}")

    async def _watch(self) -> None:
        try:
            while True:
                await self.poll()
                await asyncio.sleep(OBSERVE_EVERY_S)
        except PaneFinished as done:
            self.stop_with(done)
        except Exception as exc:
            self.stop_with(exc)

    async def poll(self) -> None:
        """Record the rows the agent logged since the last look (observed mode only)."""
        if self._observer is None:
            return
        async with self._poll_lock:
            try:
                outcomes = await asyncio.to_thread(self._observer.poll)
            except PaneFinished:
                self._counted()
                raise
        for outcome in outcomes:
            self._counted()
            if outcome.status == Status.REJECTED:
                self._tell_rejected(outcome)

    def _tell_rejected(self, outcome: Outcome) -> None:
        base = self.session.base_commit or "the starting commit"
        self.tell(
            f"{NOTE_PREFIX}Experiment #{outcome.seq} ('{outcome.description}') was recorded as REJECTED: "
            f"{outcome.reason}. Restore the protected files (git checkout {base} -- <file>) and do not edit them."
        )
        self.session.alert("warning", f"told {self.label} that experiment #{outcome.seq} was rejected")

    async def close(self) -> None:
        for task in (self._watcher, self._request):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
