"""Git stays fast as tried commits pile up: refs and objects packed on a schedule, off the loop.

Every experiment that is not kept leaves its commit under a loose ref
(refs/conductor/<run>/<pane>/<seq>) and its objects loose, and conductor's git runs with
gc.auto off (core/gitsafe.py), so nothing ever packed them: at 49,000 loose refs one
`for-each-ref` took 1.7 s. `Upkeep` counts the experiments recorded on each repo and, once
its panes are set up if PACK_EVERY refs or more are loose (a run dir an older conductor
left), and after every PACK_EVERY experiments, packs it in a worker thread:

- `git pack-refs --all` (git locks each ref it prunes, as an update-ref does, so panes go on
  committing meanwhile; the first pack of a run dir an older conductor left, tens of
  thousands of loose refs, takes its time without holding anyone up);
- `git repack -d`: the loose objects into a pack; only what is now packed is removed, nothing
  unreachable is pruned; with more than MAX_PACKS packs, `git repack -a -d` makes one.

No ref is deleted, so every tried commit the ledger names stays reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from conductor.core.events import Event, ExperimentFinished
from conductor.core.gitsafe import GitError, run_git
from conductor.core.gitstate import RepoState

PACK_EVERY = 250
MAX_PACKS = 16
CHECK_S = 5.0


def pack_repo(worktree: Path, state: RepoState) -> None:
    """Blocking: pack the refs and the loose objects of the repo `worktree` belongs to."""
    run_git(worktree, "pack-refs", "--all")
    run_git(worktree, "repack", "-d", "-q")
    if len(list((state.common / "objects" / "pack").glob("*.pack"))) > MAX_PACKS:
        run_git(worktree, "repack", "-a", "-d", "-q")


def loose_refs_at_least(common: Path, count: int) -> bool:
    """Whether the repo holds `count` loose refs or more (counting stops there)."""
    seen = 0
    for _, _, files in os.walk(common / "refs"):
        seen += len(files)
        if seen >= count:
            return True
    return False


class Upkeep:
    """A bus subscriber (counts) and a task (packs). `repo_of(pane)`: the pane's worktree and
    its repo's state once it is set up, else None."""

    def __init__(
        self, panes: list[str], repo_of: Callable[[str], tuple[Path, RepoState] | None], every: int | None = None
    ):
        self.panes = panes
        self.repo_of = repo_of
        self.every = every if every is not None else PACK_EVERY
        self._lock = threading.Lock()  # the bus may call from worker threads
        self._since: dict[str, int] = {}  # pane -> experiments since its repo was last packed
        self.packed: dict[Path, int] = {}  # repo's common dir -> times packed or found packed
        self.errors: list[str] = []

    def __call__(self, event: Event) -> None:
        if isinstance(event, ExperimentFinished):
            with self._lock:
                self._since[event.pane] = self._since.get(event.pane, 0) + 1

    def due(self) -> list[tuple[Path, RepoState]]:
        """Repos to pack now: PACK_EVERY experiments on since the last pack, or, before the first
        pack of this start, PACK_EVERY loose refs."""
        repos: dict[Path, tuple[Path, RepoState, int]] = {}
        for pane in self.panes:
            found = self.repo_of(pane)
            if found is None:
                continue
            worktree, state = found
            with self._lock:
                since = self._since.get(pane, 0)
            _, _, total = repos.get(state.common, (worktree, state, 0))
            repos[state.common] = (worktree, state, total + since)
        return [
            (worktree, state)
            for common, (worktree, state, since) in repos.items()
            if since >= self.every or (common not in self.packed and loose_refs_at_least(common, self.every))
        ]

    def pack(self, worktree: Path, state: RepoState) -> None:
        with self._lock:
            for pane in self.panes:
                found = self.repo_of(pane)
                if found is not None and found[1].common == state.common:
                    self._since[pane] = 0
        try:
            pack_repo(worktree, state)
        except GitError as exc:  # a repo that cannot be packed now is packed next time
            self.errors.append(str(exc))
        self.packed[state.common] = self.packed.get(state.common, 0) + 1

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_S)
            for worktree, state in await asyncio.to_thread(self.due):  # it may walk a repo's refs
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self.pack, worktree, state)
