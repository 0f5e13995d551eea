"""What a workspace's file keys name, checked against the workspace before anything runs.

`editable`, `protected`, `program` and `copy` are paths inside the workspace. The engine
reads them relative to each pane's worktree (`core/workspace.py`): an editable entry is an
fnmatch pattern over the worktree's paths (`*` crosses `/`), a protected entry is one file
hashed by name. A file the workspace lacks only showed up as a pane error after setup, and
a path that climbs out of the workspace (`../x`, `/etc/x`) names something no pane owns.

A file is in the workspace when it is on disk in the folder or, for a git repo, in its
HEAD tree (panes branch from HEAD).
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path, PurePosixPath

_GLOB_CHARS = frozenset("*?[")
_SKIPPED_DIRS = (".git", "__pycache__")  # never part of a pane's worktree


def is_pattern(rel: str) -> bool:
    return any(ch in _GLOB_CHARS for ch in rel)


def escapes(rel: str) -> bool:
    """Whether `rel` leaves the workspace: absolute, or a `..` anywhere in it."""
    path = PurePosixPath(rel)
    return path.is_absolute() or ".." in path.parts


class WorkspaceFiles:
    """The files of one workspace folder, on disk and in its HEAD tree."""

    def __init__(self, folder: Path):
        self.folder = folder

    @cached_property
    def head_files(self) -> frozenset[str]:
        """The paths in HEAD when the folder is a git repo's top, else none."""
        if not (self.folder / ".git").exists():
            return frozenset()
        try:
            out = subprocess.run(
                ["git", "-C", str(self.folder), "ls-tree", "-r", "-z", "--name-only", "HEAD"],
                capture_output=True,
                check=True,
                timeout=60,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            return frozenset()  # no commits yet: the pane says so at setup
        return frozenset(p for p in out.decode("utf-8", "surrogateescape").split("\0") if p)

    def is_dir(self, rel: str) -> bool:
        return (self.folder / rel).is_dir() or any(p.startswith(rel.rstrip("/") + "/") for p in self.head_files)

    def has_file(self, rel: str) -> bool:
        return (self.folder / rel).is_file() or str(PurePosixPath(rel)) in self.head_files

    def _disk_files(self) -> Iterator[str]:
        for root, dirs, names in os.walk(self.folder):
            dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".conductor")]
            base = Path(root).relative_to(self.folder)
            for name in names:
                yield (base / name).as_posix()

    def first_match(self, pattern: str) -> str | None:
        """A file the pattern matches, HEAD's first (no walk of a large folder when it answers)."""
        for rel in self.head_files:
            if fnmatch.fnmatch(rel, pattern):
                return rel
        return next((rel for rel in self._disk_files() if fnmatch.fnmatch(rel, pattern)), None)


def _path_problem(what: str, rel: str, files: WorkspaceFiles) -> str | None:
    """What any entry must be: inside the workspace, not a folder, written as git writes paths
    (the engine compares entries with git's paths: `./a.py` never equals `a.py`)."""
    if escapes(rel):
        return f"{what} '{rel}' is outside the workspace"
    if not is_pattern(rel) and files.is_dir(rel):
        hint = f", or '{rel.rstrip('/')}/*'" if what == "editable" else ""
        return f"{what} '{rel}' is a folder: list its files{hint}"
    plain = PurePosixPath(rel).as_posix()
    if plain != rel:
        return f"{what} '{rel}' must be written '{plain}'"
    return None


def editable_problem(rel: str, protected: tuple[str, ...], files: WorkspaceFiles) -> str | None:
    """Why an `editable` entry names nothing an experiment may change, if it does not."""
    problem = _path_problem("editable", rel, files)
    if problem:
        return problem
    if is_pattern(rel):
        clash = next((p for p in protected if fnmatch.fnmatch(p, rel)), None)
        if clash:
            return f"editable '{rel}' also matches the protected file '{clash}'"
        if files.first_match(rel) is None:
            return f"editable '{rel}' matches no file in the workspace {files.folder}"
        return None
    if not files.has_file(rel):
        return f"editable file '{rel}' does not exist in the workspace {files.folder}"
    return None


def protected_problem(rel: str, files: WorkspaceFiles) -> str | None:
    """Why a `protected` entry is not one file of the workspace, if it is not."""
    problem = _path_problem("protected", rel, files)
    if problem:
        return problem
    if is_pattern(rel):
        return f"protected '{rel}' must name a file, not a pattern (each protected file is hashed by name)"
    if not files.has_file(rel):
        return f"protected file '{rel}' does not exist in the workspace {files.folder}"
    return None
