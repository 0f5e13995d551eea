"""How much CPU an experiment got: the summed user + system time of its process tree, sampled
while it runs, so that a run starved by a loaded machine can be told from one that had its
share (core/starved.py compares it with the baseline's).

Each live process's own time is read (never its reaped children's, which were sampled while
they lived: counting both would count them twice); a process that ends loses at most the time
since its last sample.
"""

from __future__ import annotations

import asyncio

import psutil

SAMPLE_S = 0.5


class CpuMeter:
    def __init__(self, pid: int):
        self.pid = pid
        self._seen: dict[tuple[int, float], float] = {}  # (pid, create time) -> its CPU seconds

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    key = (p.pid, p.create_time())
            except psutil.Error:
                continue
            self._seen[key] = max(self._seen.get(key, 0.0), t.user + t.system)

    @property
    def seconds(self) -> float:
        return sum(self._seen.values())

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            await asyncio.to_thread(self.sample)
            await asyncio.sleep(SAMPLE_S)
