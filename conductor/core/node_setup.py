"""A workspace's `setup` command: once on each machine before its first experiment there.

`setup = "python prepare.py"` (workspace key) prepares what experiments need on a machine
(data downloaded, a tokenizer trained) the way autoresearch's prepare.py does. It runs once
per machine and setup key (the command and the protected files' blobs at the commit: the
harness the setup belongs to, which no experiment can change), before the first trial that
machine runs; a marker in the run dir remembers it across restarts, so it runs again only
when the protected files or the command change, or on a new node (a restarted Ray node has
a new id). It is the researcher's own command on the researcher's own files, so it runs
outside the sandbox (it may need the network), with the experiments' environment: no
secrets, the slot's devices.

It runs in a checkout of its own (the commit's tree, kept in a folder per key), never in a
pane's worktree, so what it writes there does not land in an experiment; what experiments
read goes outside the tree (e.g. `~/.cache/...`, or a folder the workspace's `data` names).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from conductor.core.gitsafe import run_git

OUTPUT_TAIL_BYTES = 256 * 1024  # what a remote setup sends back of its output


@dataclass(frozen=True)
class SetupRequest:
    """What to run where: the command, its key, and the commit whose tree it runs in."""

    command: str
    key: str
    commit: str
    repo: Path  # a checkout that holds `commit` (a pane's worktree)
    timeout_s: float


@dataclass(frozen=True)
class SetupResult:
    exit_code: int | None  # None: it did not start, or timed out
    timed_out: bool
    output: str  # its output (the tail, from a remote node)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class SetupFailed(Exception):
    """A machine's setup failed: its slots leave the pool (a Ray node), or the run cannot go
    on (this machine). `node` is the slot's node id ("" for this machine)."""

    def __init__(self, node: str, where: str, why: str):
        super().__init__(why)
        self.node = node
        self.where = where
        self.why = why


def setup_key(repo: Path, commit: str, command: str, protected: tuple[str, ...]) -> str:
    """The command and the protected files' blob ids at `commit`, hashed: setup runs again
    only when one of them changes."""
    h = hashlib.sha256(command.encode())
    if protected:
        h.update(run_git(repo, "ls-tree", "-r", "--full-tree", commit, "--", *protected).encode())
    return h.hexdigest()[:16]


def run_setup_in(base: Path, tree: bytes, command: str, env: dict[str, str], timeout_s: float) -> SetupResult:
    """Unpack `tree` (a tar of the commit) under `base` once, run `command` there; blocking.
    Its own process group, killed whole at the timeout."""
    checkout = base / "tree"
    if not checkout.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix="tree.partial-", dir=base))  # a setup beside this one unpacks its own
        with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
            tar.extractall(partial, filter="data")
        try:
            partial.rename(checkout)
        except OSError:
            if not checkout.is_dir():
                raise
            shutil.rmtree(partial, ignore_errors=True)  # the other one's checkout is the same tree
    try:
        proc = subprocess.Popen(
            command,
            shell=True,
            cwd=checkout,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return SetupResult(None, False, f"could not start `{command}`: {exc}")
    try:
        out, _ = proc.communicate(timeout=timeout_s)
        return SetupResult(proc.returncode, False, out.decode("utf-8", "replace"))
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, _ = proc.communicate()
        return SetupResult(None, True, out.decode("utf-8", "replace"))


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def failure_line(result: SetupResult, command: str, timeout_s: float) -> str:
    """One line: what went wrong, with the last line it printed."""
    last = next((ln.strip() for ln in reversed(result.output.splitlines()) if ln.strip()), "")
    if result.timed_out:
        what = f"`{command}` ran past its {timeout_s:g} s (setup_timeout_s)"
    elif result.exit_code is None:
        what = last or f"`{command}` did not start"
        last = ""
    else:
        what = f"`{command}` exited {result.exit_code}"
    return f"{what}: {last[:200]}" if last else what
