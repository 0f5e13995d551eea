"""The NVML sampler with a double that raises each documented error; PID attribution with
real child processes; the no-GPU path."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from conductor.config import parse_config
from conductor.core.orchestra import build_slots
from conductor.telemetry import gpu as gpu_mod
from conductor.telemetry.gpu import GpuSampler, NvmlBackend, attribute_pids


class FakeNVMLError(Exception):
    pass


def fake_pynvml(init_error: str | None = None, count=2, fail: dict | None = None):
    """A stand-in for the pynvml module, with its exception classes."""
    fail = fail or {}

    def maybe(name, value):
        def fn(*args):
            if name in fail:
                raise getattr(mod, fail[name])("fake")
            return value(*args) if callable(value) else value

        return fn

    mod = SimpleNamespace()
    mod.NVMLError = FakeNVMLError
    for err in ("LibraryNotFound", "DriverNotLoaded", "LibRmVersionMismatch", "NotSupported", "GpuIsLost", "NotFound"):
        setattr(mod, f"NVMLError_{err}", type(f"NVMLError_{err}", (FakeNVMLError,), {}))

    def init():
        if init_error:
            raise getattr(mod, f"NVMLError_{init_error}")("fake init failure")

    mod.nvmlInit = init
    mod.nvmlShutdown = lambda: None
    mod.nvmlDeviceGetCount = lambda: count
    mod.nvmlDeviceGetHandleByIndex = lambda i: f"h{i}"
    mod.nvmlDeviceGetUUID = lambda h: f"GPU-{h}"
    mod.nvmlDeviceGetName = lambda h: "NVIDIA H100 80GB HBM3"
    mod.NVML_TEMPERATURE_GPU = 0
    mod.NVML_CLOCK_SM = 1
    mod.nvmlDeviceGetUtilizationRates = maybe("util", lambda h: SimpleNamespace(gpu=87, memory=40))
    mod.nvmlDeviceGetMemoryInfo = maybe(
        "mem", lambda h: SimpleNamespace(used=10 * 2**30, total=80 * 2**30, free=70 * 2**30)
    )
    mod.nvmlDeviceGetTemperature = maybe("temp", lambda h, k: 61)
    mod.nvmlDeviceGetClockInfo = maybe("clock", lambda h, k: 1980)
    mod.nvmlDeviceGetCurrentClocksEventReasons = maybe("throttle", lambda h: 0x20 | 0x1)
    mod.nvmlDeviceGetComputeRunningProcesses = maybe(
        "procs", lambda h: [SimpleNamespace(pid=os.getpid(), usedGpuMemory=512 * 2**20)]
    )
    mod.nvmlGpmQueryDeviceSupport = maybe("gpm", lambda h: SimpleNamespace(isSupportedDevice=0))
    return mod


@pytest.fixture
def with_pynvml(monkeypatch):
    def install(mod):
        monkeypatch.setitem(sys.modules, "pynvml", mod)
        return mod

    return install


@pytest.mark.parametrize("error", ["LibraryNotFound", "DriverNotLoaded", "LibRmVersionMismatch"])
def test_init_errors_mean_no_gpu_and_cpu_slots(with_pynvml, error, tmp_path):
    with_pynvml(fake_pynvml(init_error=error))
    sampler = GpuSampler()
    assert sampler.start() is False
    assert "NVML unavailable" in sampler.note
    assert sampler.sample() == []
    gpus, note = gpu_mod.discover_gpus()
    assert gpus == [] and "NVML unavailable" in note
    (tmp_path / "a").write_text("")  # the config's editable file must exist
    cfg = parse_config(
        '[conductor]\ncpu_slots = 2\n[[workspace]]\npath = "."\nrun = "x"\nmetric = "m"\neditable = ["a"]\n',
        tmp_path / "c.toml",
    )
    slots, line = build_slots(cfg)
    assert [s.kind for s in slots] == ["cpu", "cpu"] and line.startswith("no GPU")


def test_missing_library_module(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    assert NvmlBackend().start() == "nvidia-ml-py not installed"


def test_sampling_reads_everything_and_processes_every_second_tick(with_pynvml):
    with_pynvml(fake_pynvml())
    sampler = GpuSampler()
    assert sampler.start() and sampler.uuids == ["GPU-h0", "GPU-h1"]
    first = sampler.sample()
    r = first[0]
    assert (r.util, r.mem_used_mb, r.mem_total_mb, r.temp_c, r.sm_clock_mhz) == (87.0, 10240.0, 81920.0, 61.0, 1980.0)
    assert r.throttle == ("sw thermal",)  # "idle" is not throttling
    assert r.processes == ((os.getpid(), 512.0),)
    assert r.sm_activity is None  # GPM unsupported on this device
    second = sampler.sample()
    assert second[0].processes is None  # the process list is read every 2nd tick
    assert sampler.sample()[0].processes is not None


@pytest.mark.parametrize(
    "call,error",
    [
        ("util", "GpuIsLost"),
        ("mem", "NotSupported"),
        ("temp", "NotSupported"),
        ("procs", "NotFound"),
        ("throttle", "NotSupported"),
        ("clock", "Unknown"),
    ],
)
def test_one_failing_call_blanks_one_number(with_pynvml, call, error):
    mod = fake_pynvml(fail={call: error if error != "Unknown" else "NotFound"})
    with_pynvml(mod)
    sampler = GpuSampler(process_every=1)
    assert sampler.start()
    r = sampler.sample()[0]
    values = {
        "util": r.util,
        "mem": r.mem_used_mb,
        "temp": r.temp_c,
        "procs": r.processes,
        "throttle": r.throttle,
        "clock": r.sm_clock_mhz,
    }
    assert values[call] in (None, ())
    others = {k: v for k, v in values.items() if k != call}
    assert all(v not in (None,) for k, v in others.items() if k != "throttle")


def test_attribution_walks_parents_to_the_experiment_root():
    # root -> child -> grandchild, in its own session like an experiment
    script = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "print(c.pid, flush=True)\n"
        "time.sleep(30)\n"
    )
    root = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, start_new_session=True)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        grandchild = int(root.stdout.readline())
        time.sleep(0.1)
        owners = attribute_pids([grandchild, root.pid, other.pid, 999_999_999], {root.pid: "pane-a"})
        assert owners[grandchild] == "pane-a"
        assert owners[root.pid] == "pane-a"
        assert owners[other.pid] is None
        assert owners[999_999_999] is None  # unresolvable (gone, or another PID namespace)
    finally:
        os.killpg(root.pid, 9)
        other.kill()
        root.wait()
        other.wait()


def test_a_node_sampler_attributes_gpu_processes_to_panes_on_its_node(with_pynvml):
    """What a node's actor answers (core/cluster/telemetry.py), read back on the head, and
    the monitor's samples of Ray slots made from it."""
    from conductor.core.bus import EventBus
    from conductor.core.cluster.telemetry import NodeSampler, _reading
    from conductor.core.monitor import Monitor
    from conductor.core.slots import Slot, SlotPool
    from conductor.telemetry.gpu import NodeGpus

    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], env={**os.environ, "CONDUCTOR_PANE": "p2"}
    )
    try:
        mod = fake_pynvml(count=2)
        mod.nvmlDeviceGetComputeRunningProcesses = lambda h: [SimpleNamespace(pid=child.pid, usedGpuMemory=2**30)]
        with_pynvml(mod)
        answer = NodeSampler().sample()
        assert answer["owners"] == {child.pid: "p2"} and answer["note"] == ""
        node = NodeGpus([_reading(r) for r in answer["readings"]], answer["owners"])
        assert node.of("1").uuid == "GPU-h1" and node.of("GPU-h0").index == 0 and node.of("7") is None

        class Cluster:
            def sample_nodes(self, node_ids):
                assert node_ids == {"n1"}
                return {"n1": node}

        slots = [Slot("box2:gpu0", "gpu", {"CUDA_VISIBLE_DEVICES": "1"}, node="n1")]
        monitor = Monitor(SlotPool(slots), {}, EventBus(), ledger=None, nodes=Cluster())
        samples, host = monitor._collect()
        assert [(s.slot, s.util) for s in samples] == [("box2:gpu0", 87.0)]
        assert samples[0].extra["processes"] == [{"pid": child.pid, "mem_mb": 1024.0, "pane": "p2"}]
        assert host.slots == ("box2:gpu0",)
    finally:
        child.kill()
        child.wait()
