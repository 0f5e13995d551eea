"""Runs that outlive the terminal: start an orchestra in the background, find it, stop it.

`--detach` re-runs `conductor run` as its own session and process group, with stdout and
stderr in `<run dir>/conductor.log`, and returns once the orchestra answers on its control
socket. The run dir's lock file holds the orchestra's pid; `conductor stop` asks the
orchestra to stop over the socket and waits for that pid to exit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conductor.core.control_client import request, socket_path
from conductor.errors import ConductorError

LOG_FILE = "conductor.log"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


def live_orchestra(run_dir: Path) -> dict | None:
    """The hello of the orchestra running on `run_dir`, or None when there is none."""
    if not socket_path(run_dir).exists():
        return None
    try:
        return request(run_dir, {"type": "hello"}, timeout=5)
    except ConductorError:
        return None


def start_detached(config: Path, run_dir: Path, max_experiments: int | None, quiet: bool = False) -> int:
    """Start `conductor run` in a session of its own; return once it answers on its socket.
    `quiet`: print nothing (`conductor up`, whose TUI attaches next)."""
    if live_orchestra(run_dir):
        raise ConductorError(f"an orchestra is already running on {run_dir}: `conductor attach --runs-dir {run_dir}`")
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "conductor", "run", "-c", str(config)]
    if max_experiments:
        argv += ["--max-experiments", str(max_experiments)]
    log_path = run_dir / LOG_FILE
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=os.getcwd(),
        )
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-5:])
            raise ConductorError(f"the orchestra exited at once (status {proc.returncode}): {tail}")
        hello = live_orchestra(run_dir)
        if hello and quiet:
            return 0
        if hello:
            print(
                f"orchestra running in the background (pid {proc.pid}), run {hello.get('run')}, log {log_path}\n"
                f"attach: conductor attach --runs-dir {run_dir}    stop: conductor stop --runs-dir {run_dir}"
            )
            return 0
        time.sleep(0.2)
    raise ConductorError(f"the orchestra did not answer within {START_TIMEOUT_S:.0f} s; see {log_path}")


def orchestra_pid(run_dir: Path) -> int | None:
    try:
        return int((run_dir / "lock").read_text().strip() or 0) or None
    except (FileNotFoundError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (our own child, not yet reaped) has exited
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def cmd_stop(run_dir: Path) -> int:
    hello = live_orchestra(run_dir)
    if hello is None:
        raise ConductorError(f"no conductor is running for {run_dir}")
    pid = int(hello.get("pid") or 0) or orchestra_pid(run_dir)
    request(run_dir, {"type": "stop"}, timeout=10)
    print(f"stopping the orchestra of {run_dir} (pid {pid}): experiments in flight are killed and recorded ...")
    deadline = time.time() + STOP_TIMEOUT_S
    while pid and _alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    if pid and _alive(pid):
        raise ConductorError(f"the orchestra (pid {pid}) is still running after {STOP_TIMEOUT_S:.0f} s")
    print("stopped")
    return 0
