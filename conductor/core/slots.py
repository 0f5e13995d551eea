"""The slot pool: places an experiment can run (one GPU by UUID, or one CPU share).

Leases are granted first come, first served, and a released slot is handed straight to
the pane at the head of the queue, so no pane starves and a slot never idles while an
experiment waits. Duty figures come from the ledger's experiment rows, not from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Slot:
    name: str  # "cpu0", "gpu1"
    kind: str  # "cpu" | "gpu"
    env: dict[str, str] = field(default_factory=dict)
    label: str = ""  # "H100 #1", "CPU (2 threads)"
    uuid: str = ""
    index: int | None = None
    node: str = ""  # the cluster node it lives on ("" = this machine; core/cluster/)


def usable_cores() -> int:
    """The cores this process may run on: a taskset or a cgroup cpuset can leave fewer than
    the machine has, and threads sized to the machine would then oversubscribe them."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity on this platform
        return os.cpu_count() or 1


def cpu_slots(count: int, cores: int | None = None) -> list[Slot]:
    cores = cores or usable_cores()
    threads = max(1, cores // max(1, count))
    env = {
        "CUDA_VISIBLE_DEVICES": "",
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "CONDUCTOR_THREADS": str(threads),
    }
    return [Slot(name=f"cpu{i}", kind="cpu", env=dict(env), label=f"CPU ({threads} threads)") for i in range(count)]


def gpu_slot(index: int, uuid: str, name: str) -> Slot:
    env = {"CUDA_VISIBLE_DEVICES": uuid, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    return Slot(name=f"gpu{index}", kind="gpu", env=env, label=f"{name} #{index}", uuid=uuid, index=index)


@dataclass
class _SlotState:
    slot: Slot
    holder: str | None = None


class SlotPool:
    def __init__(self, slots: list[Slot]):
        if not slots:
            raise ValueError("a slot pool needs at least one slot")
        self.slots = list(slots)
        self._state = {s.name: _SlotState(s) for s in slots}
        self._free: deque[str] = deque(s.name for s in slots)
        self._waiters: deque[tuple[str, asyncio.Future]] = deque()
        self._retired: set[str] = set()
        self.on_queue_change: Callable[[], None] | None = None  # the queue grew, shrank or moved

    # ---------------------------------------------------------------- leasing

    async def acquire(self, pane: str) -> Slot:
        if self._free and not self._waiters:
            return self._grant(self._free.popleft(), pane)
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        entry = (pane, fut)
        self._waiters.append(entry)
        self._queue_changed()
        try:
            return await fut
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
                self._queue_changed()
            elif fut.done() and not fut.cancelled():
                self.release(fut.result())  # granted just as we were cancelled: pass it on
            raise

    def release(self, slot: Slot) -> None:
        self._state[slot.name].holder = None
        if slot.name in self._retired:
            return
        while self._waiters:
            pane, fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(self._grant(slot.name, pane))
                self._queue_changed()
                return
        self._free.append(slot.name)

    def add(self, slot: Slot) -> None:
        """A new slot (a node joined): handed at once to the head of the queue, else free."""
        if slot.name in self._state and slot.name not in self._retired:
            return
        self._retired.discard(slot.name)
        self._state[slot.name] = _SlotState(slot)
        self.slots.append(slot)
        self.release(slot)

    def retire(self, names: set[str]) -> None:
        """Take slots out for good (their node is gone): a free one leaves at once, a held one
        when it is released. Waiters keep waiting for the slots that remain."""
        self.slots = [s for s in self.slots if s.name not in names]
        self._free = deque(n for n in self._free if n not in names)
        self._retired.update(names)

    def _queue_changed(self) -> None:
        if self.on_queue_change is not None:
            self.on_queue_change()

    def _grant(self, name: str, pane: str) -> Slot:
        st = self._state[name]
        st.holder = pane
        return st.slot

    @contextlib.asynccontextmanager
    async def lease(self, pane: str):
        slot = await self.acquire(pane)
        try:
            yield slot
        finally:
            self.release(slot)

    # ---------------------------------------------------------------- queries

    def position(self, pane: str) -> int | None:
        """How many are queued ahead of `pane`, or None when it is not waiting."""
        for i, (name, _) in enumerate(self._waiters):
            if name == pane:
                return i
        return None

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def holder(self, slot_name: str) -> str | None:
        return self._state[slot_name].holder
