"""Noticing that the run dir's ledger or lock was deleted or replaced under a live run.

An experiment (or a stray `rm`) can unlink ledger.db: the orchestra's open connection keeps
writing into a file no one will ever open again, and the next start begins a new run on the
old branches. It can unlink the lock: a second orchestra then starts beside the first. Both
files are named by path but held by inode, so the watch remembers (device, inode) of each at
open and compares with what the path names now. The orchestra checks after every recorded
experiment and on a timer; on a change it stops with one line and, at the end, writes the
ledger it still holds back to its path (the impostor, if any, set aside), so nothing
recorded is lost.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from conductor.core.ledger import Ledger


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class RunDirWatch:
    def __init__(self, ledger: Path, lock: Path):
        self.ledger_path = ledger
        self.lock_path = lock
        self._ids = {ledger: _identity(ledger), lock: _identity(lock)}
        self.ledger_lost = False

    def problem(self) -> str | None:
        """One line when the ledger or the lock is no longer the file opened; else None."""
        for path, opened in self._ids.items():
            now = _identity(path)
            if now == opened:
                continue
            if path == self.ledger_path:
                self.ledger_lost = True
            what = "deleted" if now is None else "replaced"
            return f"the run dir's {path.name} was {what} while the run was live: stopping"
        return None

    def save_ledger(self, ledger: Ledger) -> str:
        """Write the ledger this run holds back to its path; the line saying where things went."""
        path = self.ledger_path
        note = f"the ledger this run recorded is back at {path}"
        if path.exists() and _identity(path) != self._ids[path]:
            aside = path.with_name(f"{path.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, aside)
            note += f"; the file found in its place is at {aside}"
        for stale in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            stale.unlink(missing_ok=True)  # another file's journal must not be applied to the copy
        tmp = path.with_name(path.name + ".saving")
        tmp.unlink(missing_ok=True)
        ledger.save_copy(tmp)
        os.replace(tmp, path)
        return note
