"""The orchestra keeps a fold of the standings in the ledger (core/standings_checkpoint.py), so
`conductor status`, the report and the leaderboard fold only the last few rows.

Every CHECK_S seconds, once EVERY experiments have been recorded since the saved fold, a
worker thread carries it on (or makes one from the aggregate queries, when none can go on)
on a read-only connection of its own, in one read transaction, and saves it: one meta row.
At the stop the orchestra saves one more, so a stopped run's fold is whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3

from conductor.core import standings_checkpoint as checkpoint
from conductor.core.ledger import Ledger

EVERY = 200  # rows since the saved fold before the keeper saves another
CHECK_S = 30.0


class Keeper:
    """The orchestra's task: keeps a fold in the ledger no more than EVERY rows behind, in a
    worker thread on a read-only connection of its own (its write is one meta row)."""

    def __init__(self, writer: Ledger, every: int = EVERY, check_s: float = CHECK_S):
        self.writer = writer
        self.every = every
        self.check_s = check_s

    def refresh(self, force: bool = False) -> bool:
        """Blocking: save a new fold when the saved one is `every` rows behind (one row, when
        `force`), or cannot go on, or there is none. Whether one was saved."""
        reader = Ledger(self.writer.path, readonly=True)
        try:
            with reader.snapshot():
                panes = reader.panes()
                old = checkpoint.saved(reader)
                top = reader.select("SELECT COALESCE(MAX(id), 0) FROM experiments")[0][0]
                if old is not None and top - old.exp_id < (1 if force else self.every):
                    try:
                        checkpoint.carried_on(reader, old, panes)
                        return False  # it goes on over what came since: no new one needed yet
                    except checkpoint.Stale:
                        pass
                fold, _, _ = checkpoint.current(reader)
        finally:
            reader.close()
        checkpoint.save(self.writer, fold)
        return True

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            with contextlib.suppress(sqlite3.Error, OSError):  # a fold is a speed-up, never a failure
                await asyncio.to_thread(self.refresh)
