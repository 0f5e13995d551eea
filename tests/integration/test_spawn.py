"""core/spawn.py: an experiment's process started off the loop and awaited on a pidfd: the
exit status comes back, a cancelled wait leaves the child alone, and a start cancelled midway
leaves no process behind. (The loop's lag is bench/orchestra_lag.py's to measure.)"""

import asyncio
import os
import time

import psutil

from conductor.core import spawn
from conductor.core.spawn import Child, spawn_shell


def test_exit_status_is_awaited_and_a_cancelled_wait_leaves_the_child_running():
    async def main() -> tuple[int, int, bool]:
        quick = await spawn_shell("exit 7")
        code = await quick.wait()
        slow = await spawn_shell("sleep 5")
        try:
            await asyncio.wait_for(slow.wait(), timeout=0.2)
        except TimeoutError:
            pass
        alive = psutil.pid_exists(slow.pid) and psutil.Process(slow.pid).status() != psutil.STATUS_ZOMBIE
        os.killpg(slow.pid, 9)
        killed = await slow.wait()
        return code, killed, alive

    code, killed, alive = asyncio.run(main())
    assert code == 7 and killed == -9 and alive


def test_a_child_in_a_session_of_its_own():
    async def main() -> Child:
        child = await spawn_shell("sleep 0.2")
        assert os.getpgid(child.pid) == child.pid != os.getpgid(0)
        await child.wait()
        return child

    assert asyncio.run(main()).returncode == 0


def test_a_start_cancelled_midway_kills_what_it_started(monkeypatch):
    started: list[int] = []
    real_popen = spawn.subprocess.Popen

    def slow_popen(*args, **kwargs):
        time.sleep(0.3)  # the loop's task is cancelled meanwhile
        proc = real_popen(*args, **kwargs)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(spawn.subprocess, "Popen", slow_popen)

    async def main() -> None:
        task = asyncio.create_task(spawn_shell("sleep 30"))
        await asyncio.sleep(0.1)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        deadline = time.monotonic() + 5
        while not started and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    asyncio.run(main())
    assert started
    deadline = time.monotonic() + 5
    while psutil.pid_exists(started[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not psutil.pid_exists(started[0])
