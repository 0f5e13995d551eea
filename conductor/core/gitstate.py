"""The git state an experiment could tamper with, snapshotted at setup and put back after.

A pane's worktree keeps almost nothing of its own: its `.git` file names an admin dir
(`<repo>/.git/worktrees/<name>`: HEAD, commondir, gitdir), and the repo's common dir holds
the config, hooks, info/attributes, info/exclude and every branch. An experiment that
rewrites any of them (a planted hook or fsmonitor, a `git reset --hard`, an update-ref on a
sibling pane's branch) would outlive it: in the researcher's own repo, or as the parent of
the next experiments of every pane. So one `RepoState` per repo, shared by the panes on it,
remembers those files byte for byte and where each pane's branch should be; `restore()`
reads the files directly (no git runs before they are known good), writes back any that
changed, moves tampered branches back, and names what it fixed.
"""

from __future__ import annotations

import os
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path

from conductor.core.gitsafe import run_git

_COMMON_FILES = ("config", "config.worktree", "info/attributes", "info/exclude")
_ADMIN_FILES = ("HEAD", "commondir", "gitdir", "config.worktree")


@dataclass(frozen=True)
class Fix:
    """One thing put back: its name, and the pane worktree it belongs to (None: the repo's)."""

    name: str
    worktree: Path | None


@dataclass(frozen=True)
class _Saved:
    data: bytes | None  # None: the file did not exist
    mode: int = 0o644


def _read(path: Path) -> _Saved:
    try:
        if path.is_symlink() or not path.is_file():
            return _Saved(b"<not a file>" if path.exists() or path.is_symlink() else None)
        return _Saved(path.read_bytes(), path.stat().st_mode & 0o777)
    except OSError:
        return _Saved(b"<unreadable>")


def _put(path: Path, saved: _Saved) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    if saved.data is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.conductor-restore")
    tmp.write_bytes(saved.data)
    os.chmod(tmp, saved.mode)
    os.replace(tmp, path)


def worktree_dirs(worktree: Path) -> tuple[Path, Path]:
    """(admin dir, common dir) of a linked worktree, read from its `.git` file."""
    dot_git = worktree / ".git"
    if dot_git.is_dir():
        return dot_git, dot_git
    text = dot_git.read_text(encoding="utf-8").strip()
    admin = (worktree / text.removeprefix("gitdir:").strip()).resolve()
    common = (admin / (admin / "commondir").read_text(encoding="utf-8").strip()).resolve()
    return admin, common


@dataclass
class RepoState:
    common: Path
    lock: threading.RLock = field(default_factory=threading.RLock)
    files: dict[Path, _Saved] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)  # branch -> the commit conductor put it at
    worktrees: set[Path] = field(default_factory=set)
    owners: dict[Path | str, Path] = field(default_factory=dict)  # file or branch -> its pane's worktree
    fixes: list[Fix] = field(default_factory=list)  # every fix made, in order (see `mark`)

    def remember(self, paths: list[Path], owner: Path | None = None) -> None:
        for p in paths:
            self.files[p] = _read(p)
            if owner is not None:
                self.owners[p] = owner

    def mark(self) -> int:
        """A point in the fix log: `fixed_since` tells what any pane put back after it. Read
        without the lock (a list's length is one atomic read): the loop calls this when a
        slot is granted, and waiting there for a guard thread's lock cost it up to 140 ms. A
        fix appended at that same moment falls on either side of the mark, as it would
        under the lock."""
        return len(self.fixes)

    def fixed_since(self, mark: int) -> list[Fix]:
        with self.lock:
            return list(dict.fromkeys(self.fixes[mark:]))

    def remember_hooks(self) -> None:
        hooks = self.common / "hooks"
        for p in self.files_in(hooks):
            self.files[p] = _read(p)

    @staticmethod
    def files_in(folder: Path) -> list[Path]:
        try:
            return [p for p in folder.iterdir() if not p.is_dir() or p.is_symlink()]
        except OSError:
            return []

    def moved(self, branch: str, sha: str) -> None:
        """conductor itself moved `branch` (a commit, a reset): that is where it belongs now."""
        with self.lock:
            if branch in self.branches:
                self.branches[branch] = sha

    def restore(self, cwd: Path) -> list[Fix]:
        """Put back every file and branch that changed behind conductor's back; what was fixed."""
        with self.lock:
            fixed = []
            for p in self.files_in(self.common / "hooks"):
                if p not in self.files:
                    self.files[p] = _Saved(None)  # a planted hook: it goes
            for path, saved in self.files.items():
                if _read(path) != saved:
                    _put(path, saved)
                    fixed.append(Fix(self._name(path), self.owners.get(path)))
            fixed += [Fix(ref, self.owners.get(ref[len("refs/heads/") :])) for ref in self._restore_branches(cwd)]
            self.fixes += fixed
            return fixed

    def _restore_branches(self, cwd: Path) -> list[str]:
        if not self.branches:
            return []
        refs = [f"refs/heads/{b}" for b in self.branches]
        out = run_git(cwd, "for-each-ref", "--format=%(refname) %(objectname)", *refs)
        actual = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
        fixed = []
        for branch, sha in self.branches.items():
            ref = f"refs/heads/{branch}"
            if actual.get(ref) != sha:
                run_git(cwd, "update-ref", ref, sha)
                fixed.append(ref)
        return fixed

    def _name(self, path: Path) -> str:
        try:
            return str(Path(".git") / path.relative_to(self.common))
        except ValueError:
            return str(path)


_states: dict[Path, RepoState] = {}
_states_guard = threading.Lock()


def register(worktree: Path, branch: str, head: str, *, owns_branch: bool = True) -> RepoState:
    """Snapshot the git state of `worktree` (and of its repo, for the first pane on it).
    `owns_branch=False` where the agent moves its branch and HEAD itself (observed mode)."""
    admin, common = worktree_dirs(worktree)
    with _states_guard:
        state = _states.get(common)
        if state is None:
            state = _states[common] = RepoState(common)
            state.remember([common / rel for rel in _COMMON_FILES])
            state.remember_hooks()
    with state.lock:
        state.worktrees.add(worktree)
        if owns_branch:
            state.remember([worktree / ".git", *(admin / rel for rel in _ADMIN_FILES)], owner=worktree)
            state.branches[branch] = head
            state.owners[branch] = worktree
    return state


def unregister(state: RepoState, worktree: Path) -> None:
    """A pane let its worktree go; the last one drops the repo's snapshot. Until then a
    finished pane's branch is still watched: a sibling's experiment could move it."""
    with _states_guard, state.lock:
        state.worktrees.discard(worktree)
        if not state.worktrees:
            _states.pop(state.common, None)
