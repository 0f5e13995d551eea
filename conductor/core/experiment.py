"""Run one experiment process: env, own process group, log file, timeout, summary parse.

The command runs through the shell in the pane's worktree, in a new session so that the
whole group (grandchildren included) can be killed at `timeout_s`, on a stop, or when it
leaves children behind. A pid file with the process's start time lets a later conductor
kill what a `kill -9`'d one left running, without ever hitting a recycled pid. Its output
goes through conductor to the log file (core/logfile.py: redacted, capped, live), and the
run ends when its processes do, whoever still holds the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from conductor.core.cpu_meter import CpuMeter
from conductor.core.logfile import DEFAULT_MAX_LOG_BYTES, CappedLog, LogPump
from conductor.core.secrets import Redactor, SecretNames, is_secret_name
from conductor.core.spawn import spawn_shell

TERM_GRACE_S = 2.0
TAIL_BYTES = 256 * 1024


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int | None
    timed_out: bool
    started_at: float
    finished_at: float
    log_path: Path
    summary: dict = field(default_factory=dict)
    interrupted: bool = False
    cpu_s: float | None = None  # CPU seconds its processes used (core/cpu_meter.py)

    @property
    def duration_s(self) -> float:
        return self.finished_at - self.started_at


def experiment_env(
    base: dict[str, str],
    slot_env: dict[str, str],
    extra: dict[str, str],
    secret: SecretNames | None = None,
) -> dict[str, str]:
    """The environment an experiment sees: no secrets, single-threaded BLAS, the slot's env."""
    is_secret = secret or is_secret_name
    env = {k: v for k, v in base.items() if not is_secret(k)}
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(slot_env)
    env.update(extra)
    return env


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL it if conductor dies (Linux; best effort)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def kill_group(pgid: int, root_pid: int | None = None, grace_s: float = TERM_GRACE_S) -> None:
    """SIGTERM the group (and descendants that left it), then SIGKILL whatever remains."""
    procs: list[psutil.Process] = []
    if root_pid is not None:
        with contextlib.suppress(psutil.Error):
            procs = psutil.Process(root_pid).children(recursive=True)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _group_alive(pgid) and not any(_alive(p) for p in procs):
            break
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    for p in procs:
        with contextlib.suppress(psutil.Error):
            p.kill()
    # SIGKILL is asynchronous: wait (briefly) until the group is really gone
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and (_group_alive(pgid) or any(_alive(p) for p in procs)):
        time.sleep(0.02)


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # zombies still count for killpg; look closer
    for p in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                return True
    return False


TAG_VAR = "CONDUCTOR_EXPERIMENT"


def kill_tagged(tag: str, since: float) -> list[int]:
    """Kill processes that carry this experiment's tag in their environment: daemons that
    left the process group (setsid, double fork) still inherit it. Only processes started
    after the experiment are looked at, so the scan stays cheap."""
    killed = []
    me = os.getpid()
    for p in psutil.process_iter(["pid", "create_time"]):
        try:
            if p.info["create_time"] < since - 1.0 or p.pid == me:
                continue
            if p.environ().get(TAG_VAR) == tag:
                p.kill()
                killed.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return killed


def kill_tagged_under(prefix: str) -> list[int]:
    """Kill every process (and its group) whose tag starts with `prefix`: what a killed
    conductor of one run dir left running on this machine."""
    killed = []
    me = os.getpid()
    for p in psutil.process_iter(["pid"]):
        try:
            if p.pid != me and p.environ().get(TAG_VAR, "").startswith(prefix):
                pgid = os.getpgid(p.pid)
                if pgid != os.getpgid(0):
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.killpg(pgid, signal.SIGKILL)
                p.kill()
                killed.append(p.pid)
        except (psutil.Error, OSError):
            continue
    return killed


def write_pidfile(path: Path, pid: int, tag: str | None = None) -> None:
    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:
        started = 0.0
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, "pgid": pid, "create_time": started, "tag": tag}))
    os.replace(tmp, path)


def reap_pidfile(path: Path) -> bool:
    """Kill the process group a previous conductor left behind, if it is still the same one."""
    try:
        info = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return False
    killed = False
    try:
        proc = psutil.Process(info["pid"])
        if abs(proc.create_time() - info.get("create_time", 0)) < 1.0:
            kill_group(info["pgid"], info["pid"], grace_s=1.0)
            killed = True
    except (psutil.NoSuchProcess, KeyError):
        # the leader is gone, but members of its group may live on
        pgid = info.get("pgid") or 0
        if pgid > 1 and _group_alive(pgid):
            kill_group(pgid, grace_s=1.0)
            killed = True
    if info.get("tag") and kill_tagged(info["tag"], info.get("create_time", 0.0)):
        killed = True
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return killed


def read_tail(path: Path, nbytes: int = TAIL_BYTES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - nbytes))
            data = fh.read()
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")


def log_tail_lines(path: Path, lines: int = 30) -> str:
    return "\n".join(read_tail(path, 64 * 1024).splitlines()[-lines:])


async def run_process(
    command: str,
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    timeout_s: float,
    pidfile: Path | None = None,
    on_start=None,
    tag: str | None = None,
    redactor: Redactor | None = None,
    max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
) -> ProcessResult:
    """Run `command` to completion or timeout; on cancellation kill it and re-raise.
    With `tag`, the run's environment carries it and every tagged straggler is killed.
    The output is masked by `redactor` and capped at about `max_log_bytes` in the log."""
    if tag:
        env = {**env, TAG_VAR: tag}
    log = CappedLog(log_path, max_log_bytes)
    read_fd, write_fd = LogPump.pipe()
    pump = LogPump(read_fd, log, redactor)
    started = time.time()
    try:
        proc = await spawn_shell(  # off the loop: a fork there held it (core/spawn.py)
            command,
            cwd=str(cwd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=write_fd,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
    except BaseException:
        os.close(read_fd)
        log.close()
        raise
    finally:
        os.close(write_fd)
    pump.start()
    pgid = proc.pid
    meter = CpuMeter(proc.pid)
    metering = asyncio.create_task(meter.run(), name="cpu-meter")
    if pidfile is not None:
        write_pidfile(pidfile, proc.pid, tag)
    if on_start is not None:
        on_start(proc.pid)
    timed_out = False
    try:
        try:
            async with asyncio.timeout(timeout_s):  # not wait_for: on 3.11 it can swallow a stop's cancel
                await proc.wait()
        except TimeoutError:
            timed_out = True
            await asyncio.to_thread(kill_group, pgid, proc.pid)
            await proc.wait()
    except asyncio.CancelledError:
        metering.cancel()
        kill_group(pgid, proc.pid, grace_s=1.0)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        if tag:
            kill_tagged(tag, started)
        pump.finish()
        if pidfile is not None:
            with contextlib.suppress(FileNotFoundError):
                pidfile.unlink()
        raise
    finished = time.time()
    metering.cancel()
    # whatever the run left in its group (dataloader workers, a stray server) goes too
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
    if tag:
        await asyncio.to_thread(kill_tagged, tag, started)
    summary = await asyncio.to_thread(pump.finish)
    if pidfile is not None:
        with contextlib.suppress(FileNotFoundError):
            pidfile.unlink()
    return ProcessResult(
        exit_code=None if timed_out else proc.returncode,
        timed_out=timed_out,
        started_at=started,
        finished_at=finished,
        log_path=log_path,
        summary={} if timed_out else summary,
        cpu_s=meter.seconds,
    )
