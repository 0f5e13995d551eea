"""Git for one pane: source repo, worktree, guard, commit, reset, and its git state kept intact.

A workspace that is a git repo lends its HEAD; its own working tree is never touched. A
plain folder is first copied into a fresh repo in the run dir. Every pane works on its own
worktree and branch, and every reset is scoped to that worktree. Every git command goes
through core/gitsafe.py (hooks, fsmonitor and the repo's drivers off, a fixed identity), so
neither a user's git setup nor an experiment's planted settings run anything; the state an
experiment could tamper with is snapshotted at setup (core/gitstate.py) and put back after.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from conductor.core import gitstate
from conductor.core.gitsafe import GitError, run_git, run_git_bytes
from conductor.core.rundir import RunDir
from conductor.errors import ConductorError

# Files an autoresearch loop writes into its worktree that are never part of an experiment.
UNTRACKED_OK = ("results.tsv", "run.log")
_COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".conductor*", "results.tsv", "run.log")
_setup_locks: dict[str, threading.Lock] = {}
_setup_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _setup_locks_guard:
        return _setup_locks.setdefault(str(path), threading.Lock())


def is_git_repo(path: Path) -> bool:
    if not path.is_dir():
        return False
    try:
        top = run_git(path, "rev-parse", "--show-toplevel")
    except GitError:
        return False
    return Path(top).resolve() == path.resolve()


def _has_commits(path: Path) -> bool:
    return bool(run_git(path, "rev-parse", "--verify", "-q", "HEAD^{commit}", check=False))


def source_repo(ws_path: Path, ws_name: str, run_dir: Path) -> tuple[Path, bool]:
    """The repo panes branch from, and whether it is the user's own (not a copy)."""
    ws_path = ws_path.resolve()
    if is_git_repo(ws_path):
        if not _has_commits(ws_path):
            raise ConductorError(f"workspace repo {ws_path} has no commits yet: commit its files first")
        return ws_path, True
    dest = RunDir(run_dir).source_repo(ws_name)
    with _lock_for(dest):
        if (dest / ".git").exists() and _has_commits(dest):
            return dest, False
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(ws_path, dest, ignore=_COPY_IGNORE, symlinks=True)
        run_git(dest, "init", "-q", "-b", "main")
        run_git(dest, "add", "-A")
        run_git(dest, "commit", "-q", "--allow-empty", "-m", f"conductor: {ws_name} from {ws_path}")
    return dest, False


def dirty_files(repo_path: Path) -> list[str]:
    out = run_git(repo_path, "status", "--porcelain", "--untracked-files=no")
    return [ln[3:] for ln in out.splitlines() if ln.strip()]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BranchMoved(ConductorError):
    """The pane's branch is not where conductor left it: nothing was committed."""


@dataclass(frozen=True)
class GuardResult:
    ok: bool
    reason: str
    files: tuple[str, ...]  # editable files changed (what gets committed)


class Worktree:
    """One pane's worktree on its own branch. Methods block: call them from a thread."""

    def __init__(
        self,
        path: Path,
        branch: str,
        editable: tuple[str, ...],
        protected: tuple[str, ...],
        keep: tuple[str, ...] = (),
        *,
        owns_branch: bool = True,
    ):
        self.path = path
        self.branch = branch
        self.editable = editable
        self.protected = protected
        # untracked files that belong in the worktree and survive resets (the `copy` list)
        self.keep = UNTRACKED_OK + tuple(keep)
        self._protected_hashes: dict[str, str | None] = {}
        self.state = gitstate.register(path, branch, self.head(), owns_branch=owns_branch)

    # ---------------------------------------------------------------- setup

    @classmethod
    def ensure(
        cls,
        source: Path,
        path: Path,
        branch: str,
        editable: tuple[str, ...],
        protected: tuple[str, ...],
        keep: tuple[str, ...] = (),
        *,
        owns_branch: bool = True,
    ) -> tuple[Worktree, str]:
        """Create (or reopen) the worktree; returns it and the commit it started from."""
        with _lock_for(source):
            if not (path.exists() and (path / ".git").exists()):
                branch_exists = bool(
                    run_git(source, "rev-parse", "--verify", "-q", f"refs/heads/{branch}", check=False)
                )
                run_git(source, "worktree", "prune")
                if path.exists():
                    shutil.rmtree(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                if branch_exists:
                    run_git(source, "worktree", "add", "-q", str(path), branch)
                else:
                    start = run_git(source, "rev-parse", "HEAD")
                    run_git(source, "worktree", "add", "-q", "-b", branch, str(path), start)
            wt = cls(path, branch, editable, protected, keep, owns_branch=owns_branch)
        return wt, wt.head()

    def copy_ignored(self, source_tree: Path, patterns: tuple[str, ...]) -> list[str]:
        """Copy gitignored files (datasets, caches) listed under `copy` into the worktree."""
        copied = []
        for pattern in patterns:
            for src in glob.glob(str(source_tree / pattern), recursive=True):
                rel = os.path.relpath(src, source_tree)
                dest = self.path / rel
                if dest.exists():
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if os.path.isdir(src):
                    shutil.copytree(src, dest, symlinks=True)
                else:
                    shutil.copy2(src, dest)
                copied.append(rel)
        return copied

    def remember_protected(self, commit: str) -> None:
        """Hash protected files as they are in `commit` (the pane's start)."""
        for rel in self.protected:
            try:
                self._protected_hashes[rel] = _sha256(run_git_bytes(self.path, "cat-file", "blob", f"{commit}:{rel}"))
            except GitError:
                self._protected_hashes[rel] = None

    # ---------------------------------------------------------------- queries

    def git(self, *args: str, check: bool = True) -> str:
        """A git command in this worktree, the hardened way (core/gitsafe.py)."""
        return run_git(self.path, *args, check=check)

    def close(self) -> None:
        """Let the repo's snapshot go (the last pane on a repo drops it)."""
        gitstate.unregister(self.state, self.path)

    def head_message(self) -> str:
        return self.git("log", "-1", "--format=%B").strip()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def _kept(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, pat) for pat in self.keep)

    def is_editable(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, pat) for pat in self.editable)

    def changes(self) -> list[tuple[str, str]]:
        """(status, path) for every change in the worktree against HEAD, untracked included."""
        out = self.git("status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames")
        changes = []
        for entry in out.split("\0"):
            if len(entry) < 4:
                continue
            code, rel = entry[:2], entry[3:]
            if code == "??" and (self._kept(rel) or "__pycache__/" in rel or rel.endswith(".pyc")):
                continue
            changes.append((code, rel))
        return changes

    def planted_rules(self) -> list[str]:
        """Untracked .gitignore and .gitattributes files, ignored ones included: a .gitignore
        that ignores itself hides itself and what it names from the guard and from clean.
        One inside a folder the repo already ignores (a virtualenv's) or kept hides nothing new."""
        out = self.git("ls-files", "-z", "--others", "--", ":(glob)**/.gitignore", ":(glob)**/.gitattributes")
        found = [rel for rel in out.split("\0") if rel and not self._kept(rel)]
        folders = sorted({str(Path(rel).parent) for rel in found if Path(rel).parent != Path(".")})
        ignored = set()
        if folders:  # no trailing slash: with one, git would judge the folder by the rules inside it
            ignored = set(self.git("check-ignore", "--", *folders, check=False).splitlines())
        return [rel for rel in found if str(Path(rel).parent) not in ignored]

    def protected_violations(self) -> list[str]:
        bad = []
        for rel, expected in self._protected_hashes.items():
            p = self.path / rel
            try:
                actual = _sha256(p.read_bytes()) if not p.is_symlink() else "symlink"
            except (FileNotFoundError, IsADirectoryError, PermissionError, NotADirectoryError):
                actual = None
            if actual != expected:
                bad.append(rel)
        return bad

    def guard(self) -> GuardResult:
        """May the current changes be committed? Only editable files, protected ones intact,
        no new file outside the editable set (it could shadow a protected module)."""
        changed = self.changes()
        protected = self.protected_violations()
        if protected:
            return GuardResult(False, f"protected file changed: {', '.join(protected)}", ())
        untracked = [rel for code, rel in changed if code == "??"] + self.planted_rules()
        new = [rel for rel in dict.fromkeys(untracked) if not self.is_editable(rel)]
        if new:
            return GuardResult(False, f"created a file that is not editable: {', '.join(new)}", ())
        bad = [rel for code, rel in changed if code != "??" and not self.is_editable(rel)]
        if bad:
            return GuardResult(False, f"changed a file that is not editable: {', '.join(bad)}", ())
        files = tuple(rel for _, rel in changed if self.is_editable(rel))
        return GuardResult(True, "", files)

    def is_clean(self) -> bool:
        return not self.changes() and not self.planted_rules()

    def restore_git_state(self) -> list[gitstate.Fix]:
        """Put back the repo's config, hooks, HEAD and conductor's branches if anything moved
        them (core/gitstate.py); what was restored."""
        return self.state.restore(self.path)

    # ---------------------------------------------------------------- changes

    def commit(self, message: str, files: tuple[str, ...]) -> str:
        """Commit `files` on the branch where conductor left it, compare-and-swap: a branch an
        experiment moved in the meantime raises BranchMoved instead of becoming the parent."""
        with self.state.lock:
            parent = self.state.branches.get(self.branch) or self.head()
            if files:
                self.git("add", "-A", "--", *files)
            tree = self.git("write-tree")
            sha = self.git("commit-tree", tree, "-p", parent, "-m", message or "experiment")
            try:
                self.git("update-ref", "-m", "conductor: experiment", f"refs/heads/{self.branch}", sha, parent)
            except GitError:
                raise BranchMoved(f"the branch {self.branch} moved away from {parent[:7]} outside conductor") from None
            self.state.moved(self.branch, sha)
        return sha

    def keep_ref(self, ref: str, sha: str) -> None:
        """Keep a tried commit reachable (for diffs and re-runs) after the branch moves back."""
        self.git("update-ref", ref, sha)

    def reset_to(self, sha: str) -> None:
        """Hard-reset this worktree (and only it) to `sha`; drop untracked files it grew."""
        with self.state.lock:
            self.git("reset", "-q", "--hard", sha)
            self.state.moved(self.branch, sha)
        self.clean_untracked()

    def clean_untracked(self) -> None:
        """Remove untracked, non-ignored files (the `keep` ones stay) and the bytecode cached
        for protected modules, so nothing an experiment left can shadow what the next imports."""
        for rel in self.planted_rules():
            (self.path / rel).unlink(missing_ok=True)
        excludes = []
        for pattern in self.keep:
            excludes += ["-e", pattern]
        self.git("clean", "-q", "-fd", *excludes)
        for rel in self.protected:
            p = Path(rel)
            if p.suffix == ".py":
                for cached in (self.path / p.parent / "__pycache__").glob(f"{p.stem}.*.pyc"):
                    cached.unlink(missing_ok=True)


def add_throwaway_worktree(repo: Path, dest: Path, commit: str) -> None:
    """A detached worktree of `repo` at `commit` (`conductor verify`), made the hardened way."""
    run_git(repo, "worktree", "add", "-q", "--detach", str(dest), commit)


def remove_throwaway_worktree(repo: Path, dest: Path) -> None:
    run_git(repo, "worktree", "remove", "--force", str(dest), check=False)
