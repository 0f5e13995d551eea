"""NVML: which GPUs exist (for slots), how busy they are, and which pane's process is on them.

Imported as `pynvml` from the nvidia-ml-py package. No library, no driver or a driver/library
mismatch all end in one place: a short "no GPU" note, CPU slots, nothing else breaks.

Costs (reference/telemetry-and-textual.md, one H100): utilisation 2 us, memory 9 us,
compute processes 47 us, process utilisation 2 ms (never used here). So each 1 Hz tick
reads utilisation, memory, temperature, SM clock and throttle reasons; the process list is
read every second tick; on Hopper and newer, SM activity comes from NVML GPM (two samples a
tick apart), labelled as such because `util.gpu` only says "a kernel was running".
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import psutil

THROTTLE_NAMES = {
    0x1: "idle",
    0x2: "app clocks",
    0x4: "sw power cap",
    0x8: "hw slowdown",
    0x20: "sw thermal",
    0x40: "hw thermal",
    0x80: "power brake",
}


def discover_gpus() -> tuple[list[tuple[int, str, str]], str]:
    """[(index, uuid, name)] of visible GPUs, and a note when there are none."""
    backend = NvmlBackend()
    note = backend.start()
    if note:
        return [], note
    try:
        return [(i, backend.uuid(h), backend.name(h)) for i, h in enumerate(backend.handles)], ""
    except Exception as exc:  # any NVML error while listing: treat as no GPU
        return [], f"NVML error: {exc}"
    finally:
        backend.stop()


class NvmlBackend:
    """The handful of NVML calls conductor makes, in one place (tests swap in a double)."""

    def __init__(self) -> None:
        self.nvml = None
        self.handles: list = []
        self._gpm_prev: dict[int, object] = {}

    def start(self) -> str:
        """Initialise NVML; returns "" on success, else why there is no GPU."""
        try:
            import pynvml
        except ImportError:
            return "nvidia-ml-py not installed"
        try:
            pynvml.nvmlInit()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except pynvml.NVMLError as exc:
            return f"NVML unavailable: {exc}"
        self.nvml = pynvml
        return "" if self.handles else "NVML found no GPU"

    def stop(self) -> None:
        if self.nvml is not None:
            for sample in self._gpm_prev.values():
                with contextlib.suppress(Exception):
                    self.nvml.nvmlGpmSampleFree(sample)
            with contextlib.suppress(Exception):
                self.nvml.nvmlShutdown()
            self.nvml = None

    @staticmethod
    def _text(v) -> str:
        return v if isinstance(v, str) else v.decode()

    def uuid(self, h) -> str:
        return self._text(self.nvml.nvmlDeviceGetUUID(h))

    def name(self, h) -> str:
        return self._text(self.nvml.nvmlDeviceGetName(h))

    def utilization(self, h) -> float:
        return float(self.nvml.nvmlDeviceGetUtilizationRates(h).gpu)

    def memory_mb(self, h) -> tuple[float, float]:
        m = self.nvml.nvmlDeviceGetMemoryInfo(h)
        return m.used / 2**20, m.total / 2**20

    def temperature(self, h) -> float:
        return float(self.nvml.nvmlDeviceGetTemperature(h, self.nvml.NVML_TEMPERATURE_GPU))

    def sm_clock(self, h) -> float:
        return float(self.nvml.nvmlDeviceGetClockInfo(h, self.nvml.NVML_CLOCK_SM))

    def throttle(self, h) -> int:
        return int(self.nvml.nvmlDeviceGetCurrentClocksEventReasons(h))

    def processes(self, h) -> list[tuple[int, float]]:
        procs = self.nvml.nvmlDeviceGetComputeRunningProcesses(h)
        return [(p.pid, (p.usedGpuMemory or 0) / 2**20) for p in procs]

    def sm_activity(self, index: int, h) -> float | None:
        """SM activity (%) between the previous call and now via GPM; None where unsupported."""
        nvml = self.nvml
        try:
            if index not in self._gpm_prev:
                if not nvml.nvmlGpmQueryDeviceSupport(h).isSupportedDevice:
                    self._gpm_prev[index] = None
                    return None
                first = nvml.nvmlGpmSampleAlloc()
                nvml.nvmlGpmSampleGet(h, first)
                self._gpm_prev[index] = first
                return None
            prev = self._gpm_prev[index]
            if prev is None:
                return None
            cur = nvml.nvmlGpmSampleAlloc()
            nvml.nvmlGpmSampleGet(h, cur)
            req = nvml.c_nvmlGpmMetricsGet_t()
            req.version = nvml.NVML_GPM_METRICS_GET_VERSION
            req.numMetrics = 1
            req.sample1 = prev
            req.sample2 = cur
            req.metrics[0].metricId = nvml.NVML_GPM_METRIC_SM_UTIL
            nvml.nvmlGpmMetricsGet(req)
            nvml.nvmlGpmSampleFree(prev)
            self._gpm_prev[index] = cur
            return max(0.0, min(100.0, float(req.metrics[0].value)))
        except Exception:
            self._gpm_prev[index] = None  # unsupported here: stop trying
            return None


@dataclass(frozen=True)
class GpuReading:
    index: int
    uuid: str
    util: float | None
    mem_used_mb: float | None
    mem_total_mb: float | None
    temp_c: float | None
    sm_clock_mhz: float | None
    throttle: tuple[str, ...] = ()
    sm_activity: float | None = None  # NVML GPM, Hopper and newer
    processes: tuple[tuple[int, float], ...] | None = None  # (pid, MiB); None on ticks without a read


@dataclass(frozen=True)
class NodeGpus:
    """One cluster node's GPUs in one tick: its readings, and the pane each GPU process
    serves (attributed on the node, core/cluster/telemetry.py)."""

    readings: list[GpuReading]
    owners: dict[int, str]
    note: str = ""

    def of(self, gpu_id: str) -> GpuReading | None:
        """The reading of the GPU a slot names by its NVML index or its UUID."""
        return next((r for r in self.readings if gpu_id in (str(r.index), r.uuid)), None)


@dataclass
class GpuSampler:
    """One NVML sampler for all GPUs: call `sample()` once a second, from a thread."""

    backend: NvmlBackend = field(default_factory=NvmlBackend)
    process_every: int = 2
    note: str = ""
    available: bool = False
    _tick: int = 0
    uuids: list[str] = field(default_factory=list)

    def start(self) -> bool:
        self.note = self.backend.start()
        self.available = not self.note
        if self.available:
            try:
                self.uuids = [self.backend.uuid(h) for h in self.backend.handles]
            except Exception as exc:
                self.note, self.available = f"NVML error: {exc}", False
        return self.available

    def stop(self) -> None:
        self.backend.stop()
        self.available = False

    def sample(self) -> list[GpuReading]:
        if not self.available:
            return []
        self._tick += 1
        with_procs = self._tick % self.process_every == 1 or self.process_every == 1
        out = []
        for i, h in enumerate(self.backend.handles):
            out.append(self._read(i, h, with_procs))
        return out

    def _read(self, i: int, h, with_procs: bool) -> GpuReading:
        b = self.backend

        def safe(fn, *args):
            try:
                return fn(*args)
            except Exception:
                return None

        mem = safe(b.memory_mb, h) or (None, None)
        bits = safe(b.throttle, h) or 0
        procs = safe(b.processes, h) if with_procs else None
        return GpuReading(
            index=i,
            uuid=self.uuids[i],
            util=safe(b.utilization, h),
            mem_used_mb=mem[0],
            mem_total_mb=mem[1],
            temp_c=safe(b.temperature, h),
            sm_clock_mhz=safe(b.sm_clock, h),
            throttle=tuple(name for bit, name in THROTTLE_NAMES.items() if bits & bit and bit != 0x1),
            sm_activity=safe(b.sm_activity, i, h),
            processes=tuple(procs) if procs is not None else None,
        )


def attribute_pids(pids: list[int], roots: dict[int, str]) -> dict[int, str | None]:
    """Map host PIDs (from NVML) to panes by walking each one's parents up to an experiment's
    root process. `roots` is {root pid: pane}. Unresolvable PIDs (another PID namespace, a
    process that ended) map to None; callers then fall back to the slot's placement."""
    out: dict[int, str | None] = {}
    for pid in pids:
        pane = None
        try:
            proc = psutil.Process(pid)
            chain = [proc, *proc.parents()]
            for p in chain:
                if p.pid in roots:
                    pane = roots[p.pid]
                    break
                with contextlib.suppress(psutil.Error, OSError):
                    pgid = os.getpgid(p.pid)
                    if pgid in roots:
                        pane = roots[pgid]
                        break
        except psutil.Error:
            pane = None
        out[pid] = pane
    return out
