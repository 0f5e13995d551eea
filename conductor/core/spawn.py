"""Starting an experiment's process without holding the event loop.

`asyncio.create_subprocess_shell` forks on the loop's thread and waits there until the child
has exec'd; with a `preexec_fn` (the parent-death signal an experiment needs) that is a full
fork of this process, and with ten panes on two cores it was the orchestra loop's worst stall
(bench/orchestra_lag.py). On 3.11 asyncio also starts a thread per child to wait for it. Here
`Popen` runs on one long-lived spawner thread (the parent-death signal follows the thread that
forked, so it must outlive every child), and the exit is awaited on a pidfd where Linux has
them, else by a thread's `wait()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_SPAWNER = ThreadPoolExecutor(1, thread_name_prefix="conductor-spawn")  # never shut down: see above


class Child:
    """A started process: its pid, its exit status once awaited."""

    def __init__(self, popen: subprocess.Popen):
        self._popen = popen
        self.pid = popen.pid

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    async def wait(self) -> int:
        """The exit status, reaped; cancellable (the child is left as it is)."""
        if self._popen.returncode is not None:
            return self._popen.returncode
        try:
            fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfds here (not Linux, or older than 5.3)
            return await asyncio.to_thread(self._popen.wait)
        loop = asyncio.get_running_loop()
        exited = loop.create_future()

        def on_exit() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(fd, on_exit)
        try:
            await exited
        finally:
            loop.remove_reader(fd)
            os.close(fd)
        return self._popen.wait()  # it has exited: this only reaps it


async def spawn_shell(command: str, **popen_kwargs: Any) -> Child:
    """`Popen(command, shell=True, start_new_session=True, **popen_kwargs)` on the spawner
    thread. Cancelled while it starts, the process group it started is killed."""
    loop = asyncio.get_running_loop()
    starting = loop.run_in_executor(
        _SPAWNER, lambda: subprocess.Popen(command, shell=True, start_new_session=True, **popen_kwargs)
    )
    try:
        popen = await asyncio.shield(starting)
    except asyncio.CancelledError:
        starting.add_done_callback(_kill_started)
        raise
    return Child(popen)


def _kill_started(starting: asyncio.Future) -> None:
    if starting.cancelled() or starting.exception() is not None:
        return
    popen = starting.result()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, signal.SIGKILL)
    _SPAWNER.submit(popen.wait)  # reaped off the loop
