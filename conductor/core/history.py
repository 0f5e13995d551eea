"""Read back what an experiment was: its commit's diff against its parent, and its log's tail.

The zoom view of the TUI (and anyone else) asks "what did experiment #12 change, and what
did it print?". Commits of discarded experiments stay reachable under refs/conductor/..., so
`git show` in the pane's worktree finds every recorded commit, run the hardened way
(core/gitsafe.py: no textconv, no drivers, no hooks). Blocking: call from a thread.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from conductor.core.experiment import read_tail
from conductor.core.gitsafe import safe_env

MAX_DIFF_CHARS = 200_000
_SHOW_FORMAT = "commit %H%nparent %P%ndate   %ad%n%n    %s%n"


def commit_diff(repo_dir: Path | str, commit: str, max_chars: int = MAX_DIFF_CHARS) -> str:
    """`git show`-style text for one commit: a short header, the stat, then the patch against
    its first parent. A readable one-line message instead when git cannot answer."""
    if not commit:
        return "no commit recorded for this experiment"
    repo_dir = Path(repo_dir)
    if not repo_dir.is_dir():
        return f"worktree {repo_dir} is gone: cannot show {commit[:12]}"
    cmd = [
        "git",
        "-C",
        str(repo_dir),
        "-c",
        "core.quotepath=off",
        "show",
        "--no-color",
        "--no-ext-diff",
        "--no-textconv",
        "--first-parent",
        "--stat",
        "--patch",
        "--date=iso",
        f"--format={_SHOW_FORMAT}",
        commit,
        "--",
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=20, env=safe_env(repo_dir))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"git show {commit[:12]} failed: {exc}"
    if out.returncode != 0:
        reason = (out.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"git show {commit[:12]} failed: {reason}"
    text = out.stdout
    if len(text) > max_chars:
        text = text[:max_chars] + f"\n... ({len(out.stdout) - max_chars} more characters not shown)"
    return text


def log_tail(path: Path | str | None, lines: int = 60) -> str:
    """The last `lines` lines of an experiment's log, with carriage-return progress lines
    collapsed to what a terminal would show last."""
    if not path:
        return ""
    text = read_tail(Path(path), 64 * 1024)
    shown = [line.rsplit("\r", 1)[-1] for line in text.split("\n")]
    while shown and not shown[-1].strip():
        shown.pop()
    return "\n".join(shown[-lines:])
