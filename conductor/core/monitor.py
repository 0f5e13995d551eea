"""The orchestra's 1 Hz telemetry loop: slots, GPUs, host; events, ledger samples, alerts.

NVML and psutil calls run in a worker thread. Every tick publishes one SlotSample per slot
and one HostSample; the ledger gets one aggregated row per slot a minute (a week-long run
adds ~10K rows a slot). It also raises the alerts that keep GPUs busy: a slot idle while
experiments wait, and every slot idle while every agent is thinking (add panes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from conductor.core.bus import EventBus
from conductor.core.events import Alert, HostSample, SlotSample
from conductor.core.ledger import Ledger
from conductor.core.runner import SamplesNodes
from conductor.core.slots import SlotPool
from conductor.telemetry.gpu import GpuSampler, NodeGpus, attribute_pids
from conductor.telemetry.host import HostSampler

IDLE_WAIT_ALERT_S = 5.0
ALL_IDLE_ALERT_S = 60.0
ALERT_REPEAT_S = 600.0


@dataclass
class _Window:
    """One minute of a slot's samples, written to the ledger as one row."""

    n: int = 0
    busy: int = 0
    util: list[float] = field(default_factory=list)
    mem: float | None = None
    temp: float | None = None
    pane: str | None = None


class Monitor:
    def __init__(
        self,
        pool: SlotPool,
        panes: dict,
        bus: EventBus,
        ledger: Ledger,
        *,
        gpu: GpuSampler | None = None,
        nodes: SamplesNodes | None = None,
        interval_s: float = 1.0,
        persist_every_s: float = 60.0,
    ):
        self.pool = pool
        self.panes = panes
        self.bus = bus
        self.ledger = ledger
        self.gpu = gpu
        self.nodes = nodes  # GPU slots on cluster nodes are sampled there (core/cluster/telemetry.py)
        self.host = HostSampler()
        self.interval_s = interval_s
        self.persist_every_s = persist_every_s
        self._windows: dict[str, _Window] = {s.name: _Window() for s in pool.slots}
        self._last_persist = time.time()
        self._idle_since: dict[str, float] = {}
        self._all_idle_since: float | None = None
        self._last_alert: dict[str, float] = {}

    async def run(self) -> None:
        has_gpu_slots = any(s.kind == "gpu" and not s.node for s in self.pool.slots)
        if has_gpu_slots:
            self.gpu = self.gpu or GpuSampler()
            if not self.gpu.available and not await asyncio.to_thread(self.gpu.start):
                self.bus.publish(Alert(pane=None, level="warning", message=f"GPU telemetry off: {self.gpu.note}"))
        try:
            while True:
                t0 = time.monotonic()
                samples, host = await asyncio.to_thread(self._collect)
                for s in samples:
                    self.bus.publish(s)
                    self._accumulate(s)
                self.bus.publish(host)
                self._alerts()
                if time.time() - self._last_persist >= self.persist_every_s:
                    self._persist()
                await asyncio.sleep(max(0.05, self.interval_s - (time.monotonic() - t0)))
        finally:
            with contextlib.suppress(Exception):
                self._persist()
            if self.gpu is not None:
                await asyncio.to_thread(self.gpu.stop)

    # ---------------------------------------------------------------- sampling (thread)

    def _running_roots(self) -> dict[int, str]:
        return {p.running_pid: name for name, p in self.panes.items() if getattr(p, "running_pid", None)}

    def _node_readings(self) -> dict[str, NodeGpus]:
        remote = {s.node for s in self.pool.slots if s.kind == "gpu" and s.node}
        if not remote or self.nodes is None:
            return {}
        try:
            return self.nodes.sample_nodes(remote)
        except Exception:  # noqa: BLE001 - a tick without the cluster's readings; the next one asks again
            return {}

    def _collect(self) -> tuple[list[SlotSample], HostSample]:
        readings = {r.uuid: r for r in (self.gpu.sample() if self.gpu and self.gpu.available else [])}
        on_nodes = self._node_readings()
        roots = self._running_roots()
        out = []
        for slot in self.pool.slots:
            holder = self.pool.holder(slot.name)
            if slot.kind == "gpu":
                node = on_nodes.get(slot.node) if slot.node else None
                r = node.of(slot.env.get("CUDA_VISIBLE_DEVICES", "")) if node else readings.get(slot.uuid)
                extra: dict = {}
                if r is not None:
                    extra = {"sm_clock_mhz": r.sm_clock_mhz, "throttle": list(r.throttle), "sm_activity": r.sm_activity}
                    if r.processes is not None:
                        pids = [pid for pid, _ in r.processes]
                        owners = {p: node.owners.get(p) for p in pids} if node else attribute_pids(pids, roots)
                        extra["processes"] = [
                            {"pid": pid, "mem_mb": round(mb, 1), "pane": owners.get(pid) or holder}
                            for pid, mb in r.processes
                        ]
                out.append(
                    SlotSample(
                        slot=slot.name,
                        kind="gpu",
                        busy=holder is not None,
                        pane=holder,
                        util=r.util if r else None,
                        mem_used_mb=r.mem_used_mb if r else None,
                        mem_total_mb=r.mem_total_mb if r else None,
                        temp_c=r.temp_c if r else None,
                        extra=extra,
                    )
                )
            else:
                tree = None
                pane = self.panes.get(holder) if holder else None
                if pane is not None and getattr(pane, "running_pid", None):
                    tree = self.host.tree(pane.running_pid)
                threads = int(slot.env.get("CONDUCTOR_THREADS", "1"))
                out.append(
                    SlotSample(
                        slot=slot.name,
                        kind="cpu",
                        busy=holder is not None,
                        pane=holder,
                        util=min(100.0, tree.cpu_percent / threads) if tree else (None if holder else 0.0),
                        mem_used_mb=tree.rss_mb if tree else None,
                        extra={"threads": threads},
                    )
                )
        cpu, used, total = self.host.host()
        slots = tuple(s.name for s in self.pool.slots)
        return out, HostSample(cpu_percent=cpu, mem_used_mb=used, mem_total_mb=total, slots=slots)

    # ---------------------------------------------------------------- ledger and alerts

    def _accumulate(self, s: SlotSample) -> None:
        w = self._windows.setdefault(s.slot, _Window())  # a slot may join mid-run (core/cluster/)
        w.n += 1
        w.busy += int(s.busy)
        if s.util is not None:
            w.util.append(s.util)
        if s.mem_used_mb is not None:
            w.mem = max(w.mem or 0.0, s.mem_used_mb)
        w.temp = s.temp_c if s.temp_c is not None else w.temp
        w.pane = s.pane or w.pane

    def _persist(self) -> None:
        now = time.time()
        for name, w in self._windows.items():
            if w.n:
                util = sum(w.util) / len(w.util) if w.util else None
                self.ledger.record_sample(now, name, w.pane, w.busy / w.n, util, w.mem, w.temp)
        self._windows = {name: _Window() for name in self._windows}
        self._last_persist = now

    def _alert_once(self, key: str, message: str, level: str = "warning") -> None:
        now = time.time()
        if now - self._last_alert.get(key, 0) >= ALERT_REPEAT_S:
            self._last_alert[key] = now
            self.bus.publish(Alert(pane=None, level=level, message=message))

    def _alerts(self) -> None:
        now = time.time()
        idle = [s.name for s in self.pool.slots if self.pool.holder(s.name) is None]
        for name in list(self._idle_since):
            if name not in idle:
                del self._idle_since[name]
        for name in idle:
            since = self._idle_since.setdefault(name, now)
            if self.pool.waiting and now - since >= IDLE_WAIT_ALERT_S:
                self._alert_once(
                    f"idle-wait-{name}", f"slot {name} is idle while {self.pool.waiting} experiment(s) wait"
                )
        states = [p.state for p in self.panes.values()]
        thinking = states and all(st == "thinking" for st in states)
        if len(idle) == len(self.pool.slots) and thinking:
            self._all_idle_since = self._all_idle_since or now
            if now - self._all_idle_since >= ALL_IDLE_ALERT_S:
                self._alert_once(
                    "all-idle",
                    f"every slot has been idle {int(now - self._all_idle_since)} s while all agents think: add panes",
                    level="info",
                )
        else:
            self._all_idle_since = None
