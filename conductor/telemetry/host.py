"""The host and each pane's experiment, via psutil: CPU and memory, sampled at 1 Hz.

Per-pane figures sum the experiment's whole process tree (its root and every descendant),
so a training run with data-loader workers shows its true footprint.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessTreeReading:
    cpu_percent: float  # % of one core, summed over the tree
    rss_mb: float


class HostSampler:
    def __init__(self) -> None:
        psutil.cpu_percent(None)  # prime: the first reading is against this instant
        self._procs: dict[int, psutil.Process] = {}

    def host(self) -> tuple[float, float, float]:
        """(cpu %, memory used MiB, memory total MiB) of the machine."""
        for pid, proc in list(self._procs.items()):
            if not proc.is_running():
                del self._procs[pid]
        vm = psutil.virtual_memory()
        return psutil.cpu_percent(None), (vm.total - vm.available) / 2**20, vm.total / 2**20

    def tree(self, root_pid: int) -> ProcessTreeReading | None:
        """CPU and RSS of a process and its descendants; None when it is gone."""
        try:
            root = psutil.Process(root_pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            return None
        cpu = rss = 0.0
        for p in members:
            proc = self._procs.setdefault(p.pid, p)  # keep the object so cpu_percent has a baseline
            with contextlib.suppress(psutil.Error):
                cpu += proc.cpu_percent(None)
                rss += proc.memory_info().rss / 2**20
        return ProcessTreeReading(cpu, rss)
