"""The run dir's layout, in one place: every file and folder conductor keeps for a run.

    <run dir>/
      ledger.db            the durable record (core/ledger.py)
      conductor.toml       the resolved config the run was started with
      lock                 flock held by the live orchestra (its pid inside)
      control.sock         the control socket while the run is live (core/control.py)
      conductor.log        a detached orchestra's output (detach.py)
      repos/<workspace>/   a plain-folder workspace copied into a fresh repo
      worktrees/<pane>/    each pane's git worktree, on conductor/<run>/<pane>
      programs/<pane>.md   each pane's program.md (the researcher edits it with `e`)
      agents/<pane>/       each agent's private state (session ids, transcript, study)
      logs/<pane>/         one log file per experiment and re-run
      pids/<pane>.pid      the experiment process now running (for kill -9 recovery)
      pids/<pane>.verify.<run>.<seed>.pid   a `conductor verify` re-run now running
      verify/              throwaway worktrees of `conductor verify`
      setup/<key>/         the workspace setup's checkout on this machine; setup/<node>-<key>.ok
                           and .log: a machine's setup done, and its output (core/node_setup.py)
      report/              `conductor report`'s default output
      seen                 when a TUI last looked at the run (an attached TUI's "while you were away")

Nothing else spells these names; code asks a `RunDir`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LEDGER = "ledger.db"
CONFIG = "conductor.toml"
LOCK = "lock"
SOCKET = "control.sock"
ORCHESTRA_LOG = "conductor.log"
WORKTREES = "worktrees"


@dataclass(frozen=True)
class RunDir:
    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def ledger(self) -> Path:
        return self.root / LEDGER

    @property
    def config(self) -> Path:
        return self.root / CONFIG

    @property
    def lock(self) -> Path:
        return self.root / LOCK

    @property
    def socket(self) -> Path:
        return self.root / SOCKET

    @property
    def orchestra_log(self) -> Path:
        return self.root / ORCHESTRA_LOG

    @property
    def seen(self) -> Path:
        return self.root / "seen"

    @property
    def verify_dir(self) -> Path:
        return self.root / "verify"

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    def make_private(self) -> None:
        """Owner-only: the run dir 0700 (so nothing in it is reachable by other users, whatever
        a file's own mode), the ledger's files 0600, and 0600/0700 for everything this process
        creates from now on (logs, worktrees, what experiments write)."""
        os.umask(0o077)
        os.chmod(self.root, 0o700)
        for path in self.root.glob(f"{LEDGER}*"):
            os.chmod(path, 0o600)

    def has_ledger(self) -> bool:
        return self.ledger.is_file()

    def source_repo(self, workspace: str) -> Path:
        return self.root / "repos" / workspace

    def worktree(self, pane: str) -> Path:
        return self.root / WORKTREES / pane

    def program(self, pane: str) -> Path:
        return self.root / "programs" / f"{pane}.md"

    def agent_dir(self, pane: str) -> Path:
        return self.root / "agents" / pane

    def shared_dir(self, workspace: str) -> Path:
        """State the panes of one workspace share (the optuna agents' one study)."""
        return self.root / "shared" / workspace

    def log_dir(self, pane: str) -> Path:
        return self.root / "logs" / pane

    @property
    def setup_dir(self) -> Path:
        return self.root / "setup"

    @property
    def pid_dir(self) -> Path:
        return self.root / "pids"

    def pidfile(self, pane: str) -> Path:
        return self.pid_dir / f"{pane}.pid"

    @classmethod
    def of_worktree(cls, cwd: Path) -> tuple[RunDir, str] | None:
        """(run dir, pane) when `cwd` is inside `<run dir>/worktrees/<pane>`, else None."""
        cwd = Path(cwd).resolve()
        for path in (cwd, *cwd.parents):
            parent = path.parent
            if parent.name == WORKTREES and parent != path:
                run_dir = cls(parent.parent)
                if run_dir.has_ledger() or run_dir.socket.exists():
                    return run_dir, path.name
        return None
