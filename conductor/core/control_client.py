"""The client half of the control socket (core/control.py is the server): one request, one
answer, and `conductor exp`. Only the standard library, so an agent's `conductor exp` starts
fast."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from conductor.core.control_schema import PROTOCOL_VERSION
from conductor.core.rundir import WORKTREES, RunDir
from conductor.errors import ConductorError

LINE_LIMIT = 1 << 20
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; longer paths go through /proc/self/fd


def socket_path(run_dir: Path) -> Path:
    return RunDir(run_dir).socket


@contextlib.contextmanager
def short_address(path: Path) -> Iterator[str]:
    """An address for `path` that fits sockaddr_un: the path itself, or the same file
    reached through an open descriptor of its folder (Linux)."""
    if len(os.fsencode(str(path))) <= _SUN_PATH_MAX:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def request(run_dir: Path, payload: dict, timeout: float | None = None) -> dict:
    """Send one request to the run's orchestra and wait for its response (blocking)."""
    path = socket_path(run_dir)
    if not path.exists():
        raise ConductorError(f"no conductor is running for {run_dir} (no control socket)")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        try:
            with short_address(path) as address:
                sock.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            raise ConductorError(f"no conductor is running for {run_dir} (stale control socket)") from None
        except PermissionError:
            raise ConductorError(f"the control socket of {run_dir} belongs to another user") from None
        sock.sendall(json.dumps({"v": PROTOCOL_VERSION, **payload}).encode() + b"\n")
        with sock.makefile("rb") as stream:
            line = stream.readline(LINE_LIMIT)
    except TimeoutError:
        raise ConductorError(f"the conductor of {run_dir} did not answer in time") from None
    except OSError as exc:
        raise ConductorError(f"lost the connection to the conductor of {run_dir}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    if not line:
        raise ConductorError(f"the conductor of {run_dir} stopped before answering")
    try:
        response = json.loads(line)
    except ValueError:
        raise ConductorError("the conductor sent a response that is not JSON") from None
    if not response.get("ok"):
        raise ConductorError(str(response.get("error") or "the request failed"))
    return response


def cmd_exp(message: str) -> int:
    """`conductor exp -m MESSAGE`: run an experiment for the pane whose worktree this is."""
    if not message.strip():
        raise ConductorError('exp needs a message: conductor exp -m "what you tried"')
    cwd = Path.cwd()
    found = RunDir.of_worktree(cwd)
    if found is None:
        raise ConductorError(
            f"`conductor exp` runs inside a pane's worktree (<run dir>/{WORKTREES}/<pane>); {cwd} is not one"
        )
    run_dir, pane = found
    response = request(run_dir.root, {"type": "exp", "pane": pane, "message": message})
    sys.stdout.write(str(response.get("text", "")).rstrip("\n") + "\n")
    sys.stdout.flush()
    return 0
