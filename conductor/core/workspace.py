"""Git for one pane, via GitPython: source repo, worktree, guard, commit, reset.

A workspace that is a git repo lends its HEAD; its own working tree is never touched. A
plain folder is first copied into a fresh repo in the run dir. Every pane works on its own
worktree and branch, and every reset is scoped to that worktree. Commits are made with a
fixed identity and without the repo's hooks, so a user's git setup cannot break a run.
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

import git

from conductor.errors import ConductorError

GIT_ENV = {
    "GIT_AUTHOR_NAME": "conductor",
    "GIT_AUTHOR_EMAIL": "conductor@localhost",
    "GIT_COMMITTER_NAME": "conductor",
    "GIT_COMMITTER_EMAIL": "conductor@localhost",
    "GIT_TERMINAL_PROMPT": "0",
}
_GIT_OPTS = ["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgsign=false", "-c", "gc.auto=0"]
# Files an autoresearch loop writes into its worktree that are never part of an experiment.
UNTRACKED_OK = ("results.tsv", "run.log")
_COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".conductor*", "results.tsv", "run.log")
_setup_locks: dict[str, threading.Lock] = {}
_setup_locks_guard = threading.Lock()


def _lock_for(path: Path) -> threading.Lock:
    with _setup_locks_guard:
        return _setup_locks.setdefault(str(path), threading.Lock())


def _repo(path: Path) -> git.Repo:
    repo = git.Repo(path)
    repo.git.update_environment(**GIT_ENV)
    return repo


def _git(repo: git.Repo, *args: str, **kwargs) -> str:
    return repo.git.execute(["git", *_GIT_OPTS, *args], **kwargs)


def is_git_repo(path: Path) -> bool:
    try:
        repo = git.Repo(path)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        return False
    try:
        return Path(repo.working_tree_dir).resolve() == path.resolve()
    except (TypeError, OSError):
        return False


def source_repo(ws_path: Path, ws_name: str, run_dir: Path) -> tuple[Path, bool]:
    """The repo panes branch from, and whether it is the user's own (not a copy)."""
    ws_path = ws_path.resolve()
    if is_git_repo(ws_path):
        with _repo(ws_path) as repo:
            if not repo.head.is_valid():
                raise ConductorError(f"workspace repo {ws_path} has no commits yet: commit its files first")
        return ws_path, True
    dest = run_dir / "repos" / ws_name
    with _lock_for(dest):
        if (dest / ".git").exists():
            with _repo(dest) as existing:
                if existing.head.is_valid():
                    return dest, False
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(ws_path, dest, ignore=_COPY_IGNORE, symlinks=True)
        with git.Repo.init(dest, initial_branch="main") as repo:
            repo.git.update_environment(**GIT_ENV)
            _git(repo, "add", "-A")
            _git(repo, "commit", "-q", "--allow-empty", "-m", f"conductor: {ws_name} from {ws_path}")
    return dest, False


def dirty_files(repo_path: Path) -> list[str]:
    with _repo(repo_path) as repo:
        out = repo.git.status("--porcelain", "--untracked-files=no")
    return [ln[3:] for ln in out.splitlines() if ln.strip()]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    ):
        self.path = path
        self.branch = branch
        self.editable = editable
        self.protected = protected
        # untracked files that belong in the worktree and survive resets (the `copy` list)
        self.keep = UNTRACKED_OK + tuple(keep)
        self.repo = _repo(path)
        self._protected_hashes: dict[str, str | None] = {}

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
    ) -> tuple[Worktree, str]:
        """Create (or reopen) the worktree; returns it and the commit it started from."""
        with _repo(source) as src, _lock_for(source):
            branch_exists = any(h.name == branch for h in src.heads)
            if path.exists() and (path / ".git").exists():
                wt = cls(path, branch, editable, protected, keep)
            else:
                _git(src, "worktree", "prune")
                if path.exists():
                    shutil.rmtree(path)
                path.parent.mkdir(parents=True, exist_ok=True)
                if branch_exists:
                    _git(src, "worktree", "add", "-q", str(path), branch)
                else:
                    _git(src, "worktree", "add", "-q", "-b", branch, str(path), src.head.commit.hexsha)
                wt = cls(path, branch, editable, protected, keep)
        start = wt.head()
        return wt, start

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
                blob = self.repo.git.execute(
                    ["git", "cat-file", "blob", f"{commit}:{rel}"],
                    stdout_as_string=False,
                    strip_newline_in_stdout=False,
                )
                self._protected_hashes[rel] = _sha256(blob)
            except git.GitCommandError:
                self._protected_hashes[rel] = None

    # ---------------------------------------------------------------- queries

    def close(self) -> None:
        """Stop GitPython's persistent `git cat-file` helpers."""
        self.repo.close()

    def head_message(self) -> str:
        return self.repo.git.log("-1", "--format=%B").strip()

    def head(self) -> str:
        return self.repo.git.rev_parse("HEAD")

    def _kept(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, pat) for pat in self.keep)

    def is_editable(self, rel: str) -> bool:
        return any(fnmatch.fnmatch(rel, pat) for pat in self.editable)

    def changes(self) -> list[tuple[str, str]]:
        """(status, path) for every change in the worktree against HEAD, untracked included."""
        out = self.repo.git.execute(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"])
        items = out.split("\0")
        changes = []
        i = 0
        while i < len(items):
            entry = items[i]
            i += 1
            if len(entry) < 4:
                continue
            code, rel = entry[:2], entry[3:]
            if code[0] in "RC":
                i += 1  # rename: the next item is the source path
            if code == "??" and (self._kept(rel) or "__pycache__/" in rel or rel.endswith(".pyc")):
                continue
            changes.append((code, rel))
        return changes

    def protected_violations(self) -> list[str]:
        bad = []
        for rel, expected in self._protected_hashes.items():
            p = self.path / rel
            try:
                actual = _sha256(p.read_bytes()) if not p.is_symlink() else "symlink"
            except (FileNotFoundError, IsADirectoryError, PermissionError):
                actual = None
            if actual != expected:
                bad.append(rel)
        return bad

    def guard(self) -> GuardResult:
        """May the current changes be committed? Only editable files, protected ones intact."""
        changed = self.changes()
        bad = [rel for code, rel in changed if code != "??" and not self.is_editable(rel)]
        protected = self.protected_violations()
        if protected:
            return GuardResult(False, f"protected file changed: {', '.join(protected)}", ())
        if bad:
            return GuardResult(False, f"changed a file that is not editable: {', '.join(bad)}", ())
        files = tuple(rel for _, rel in changed if self.is_editable(rel))
        return GuardResult(True, "", files)

    def is_clean(self) -> bool:
        return not self.changes()

    # ---------------------------------------------------------------- changes

    def commit(self, message: str, files: tuple[str, ...]) -> str:
        if files:
            _git(self.repo, "add", "-A", "--", *files)
        _git(self.repo, "commit", "-q", "--allow-empty", "--no-verify", "-m", message or "experiment")
        return self.head()

    def keep_ref(self, ref: str, sha: str) -> None:
        """Keep a tried commit reachable (for diffs and re-runs) after the branch moves back."""
        _git(self.repo, "update-ref", ref, sha)

    def reset_to(self, sha: str) -> None:
        """Hard-reset this worktree (and only it) to `sha`; drop untracked files it grew."""
        _git(self.repo, "reset", "-q", "--hard", sha)
        excludes = []
        for pattern in self.keep:
            excludes += ["-e", pattern]
        _git(self.repo, "clean", "-q", "-fd", *excludes)
