"""The files an external agent keeps in its pane's agent dir, which outlive a conductor restart.

`cli.json` holds what resuming needs (the session id, Codex's cumulative usage per thread),
`agent.pid` the running process (a conductor that died leaves it behind: the next one kills
that process first), `prompt.md` the last prompt, `bin/conductor` the shim that makes
`conductor exp` on the agent's PATH run this very installation, and `transcript.log`
everything the agent printed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from pathlib import Path

from conductor.core.experiment import reap_pidfile, write_pidfile

STATE_FILE = "cli.json"
PID_FILE = "agent.pid"
PROMPT_FILE = "prompt.md"
TRANSCRIPT_FILE = "transcript.log"


class AgentDir:
    def __init__(self, path: Path, kind: str):
        self.path = Path(path)
        self.kind = kind  # the state of another kind of agent is not ours to resume
        self.bin_dir = self.path / "bin"
        self.prompt_path = self.path / PROMPT_FILE
        self.transcript_path = self.path / TRANSCRIPT_FILE
        self._state_path = self.path / STATE_FILE
        self._pid_path = self.path / PID_FILE

    def prepare(self) -> bool:
        """Create the dir and the shim; True when a process left by a previous conductor was killed."""
        self.path.mkdir(parents=True, exist_ok=True)
        reaped = reap_pidfile(self._pid_path)
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        shim = self.bin_dir / "conductor"
        shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m conductor "$@"\n', encoding="utf-8")
        shim.chmod(0o755)
        return reaped

    def load_state(self) -> dict:
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) and data.get("kind") == self.kind else {}

    def save_state(self, state: dict) -> None:
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps({**state, "kind": self.kind}), encoding="utf-8")
        os.replace(tmp, self._state_path)

    def write_prompt(self, prompt: str) -> None:
        self.prompt_path.write_text(prompt, encoding="utf-8")

    def write_pid(self, pid: int) -> None:
        write_pidfile(self._pid_path, pid)

    def clear_pid(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._pid_path.unlink()
