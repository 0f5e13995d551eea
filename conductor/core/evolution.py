"""Programs that evolve on a schedule: the orchestra's side of a workspace's `evolve_every`.

Every `evolve_every` experiments recorded on a workspace, the evolver (injected, like the
agent factory: the engine knows nothing of how a variant is written; the CLI passes
`conductor.evolve.tournament`) runs in a thread. When every pane has had an equal budget
under its current program it names the panes that lost and the program each gets; their
program files are written here, so each agent follows its new variant from its next turn,
and one line says what happened. One evolver run at a time per workspace; a failing one is
an alert, never a stopped run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path

from conductor.core.bus import EventBus
from conductor.core.events import AgentActivity, Alert, Event, ExperimentFinished

# (run dir, workspace, experiments a pane) -> ({pane: program text}, one line)
Evolver = Callable[[Path, str, int], tuple[dict[str, str], str]]


class EvolutionSchedule:
    """A bus subscriber: counts each workspace's experiments and runs the evolver on time.
    Made on the orchestra's event loop."""

    def __init__(
        self,
        run_dir: Path,
        every: dict[str, int],  # workspace -> evolve_every
        workspace_of: dict[str, str],  # pane -> workspace
        program_path: Callable[[str], Path],
        evolver: Evolver,
        bus: EventBus,
    ):
        self.run_dir = run_dir
        self.every = every
        self.workspace_of = workspace_of
        self.program_path = program_path
        self.evolver = evolver
        self.bus = bus
        self._since: dict[str, int] = dict.fromkeys(every, 0)
        self._running: dict[str, asyncio.Task] = {}
        self._loop = asyncio.get_running_loop()  # events may be published from the recorder's thread

    def __call__(self, event: Event) -> None:
        if not isinstance(event, ExperimentFinished) or event.is_baseline:
            return
        ws = self.workspace_of.get(event.pane)
        if ws not in self.every:
            return
        self._loop.call_soon_threadsafe(self._count, ws)

    def _count(self, ws: str) -> None:
        self._since[ws] += 1
        if self._since[ws] >= self.every[ws] and ws not in self._running:
            self._since[ws] = 0
            self._running[ws] = self._loop.create_task(self._evolve(ws), name=f"evolve:{ws}")

    async def _evolve(self, ws: str) -> None:
        try:
            assignments, line = await asyncio.to_thread(self.evolver, self.run_dir, ws, self.every[ws])
            for pane, text in assignments.items():
                await asyncio.to_thread(self.program_path(pane).write_text, text, encoding="utf-8")
                self.bus.publish(
                    AgentActivity(pane=pane, kind="info", text="program.md: a new variant, from the tournament")
                )
            if line:
                self.bus.publish(Alert(pane=None, level="info", message=line))
        except Exception as exc:  # noqa: BLE001 - the research goes on under the programs it has
            self.bus.publish(Alert(pane=None, level="warning", message=f"evolving {ws}'s programs failed: {exc}"))
        finally:
            self._running.pop(ws, None)

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
