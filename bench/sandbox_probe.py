"""The sandbox's cost and its GPU path, measured side by side in one run.

1. Start-up overhead: the same trivial trial (`true`, through the same Trials/runner code
   a pane uses) N times with the local runner and N times in the bubblewrap sandbox,
   interleaved so machine load hits both alike; median and p95 of each and of the difference.
2. Where a GPU is found: a CUDA job inside the sandbox on a GPU slot (torch sees the slot's
   GPU, allocates, computes), while NVML's process list is attributed to the pane through
   the same `attribute_pids` the monitor uses.

    python bench/sandbox_probe.py [--runs 40] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conductor.core.runner import LocalRunner, Trial  # noqa: E402
from conductor.core.sandbox import SandboxRunner, availability  # noqa: E402
from conductor.core.slots import SlotPool, cpu_slots, gpu_slot  # noqa: E402
from conductor.core.trial import Trials  # noqa: E402


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def trial(cwd: Path, seq: int, command: str, metric: str = "score") -> Trial:
    return Trial(
        pane="bench",
        seq=seq,
        seed=0,
        commit="0" * 40,
        command=command,
        cwd=cwd,
        log_path=cwd.parent / f"log-{seq}.txt",
        metric=metric,
        time_budget_s=60,
        timeout_s=120,
    )


async def overhead(root: Path, runs: int) -> dict:
    cwd = root / "run" / "worktrees" / "bench"
    cwd.mkdir(parents=True)
    slot = cpu_slots(1)[0]
    local = Trials(SlotPool([slot]), LocalRunner(), dict(os.environ), root / "run", root / "pids")
    boxed = Trials(
        SlotPool([slot]),
        SandboxRunner(LocalRunner(), hidden=[root / "run"]),
        dict(os.environ),
        root / "run",
        root / "pids",
    )
    times: dict[str, list[float]] = {"local": [], "sandbox": []}
    for i in range(runs):
        for name, trials in (
            (("local", local), ("sandbox", boxed)) if i % 2 == 0 else (("sandbox", boxed), ("local", local))
        ):
            t0 = time.perf_counter()
            result = await trials.run(trial(cwd, i, "true"))
            times[name].append((time.perf_counter() - t0) * 1000)
            assert result.exit_code == 0, (name, Path(result.log_path).read_text())
    diff = [s - loc for s, loc in zip(times["sandbox"], times["local"], strict=True)]
    return {
        "runs": runs,
        **{f"{k}_ms": {"median": statistics.median(v), "p95": pct(v, 0.95)} for k, v in times.items()},
        "added_ms": {"median": statistics.median(diff), "p95": pct(diff, 0.95)},
    }


CUDA_JOB = (
    'python3 -c "import os, time, torch; assert torch.cuda.is_available(); '
    "x = torch.randn(8192, 8192, device='cuda'); t = time.time(); n = 0\n"
    "while time.time() - t < 6: x = (x @ x).clamp_(-1, 1); n += 1\n"
    "torch.cuda.synchronize(); print('---'); print('score:', float(n)); "
    "print('visible:', os.environ.get('CUDA_VISIBLE_DEVICES')); print('devices:', torch.cuda.device_count())\""
)


async def gpu_check(root: Path) -> dict:
    from conductor.telemetry.gpu import NvmlBackend, attribute_pids, discover_gpus

    gpus, note = discover_gpus()
    if not gpus:
        return {"gpu": None, "note": note}
    index, uuid, name = gpus[0]
    slot = gpu_slot(index, uuid, name)
    cwd = root / "run" / "worktrees" / "gpu"
    cwd.mkdir(parents=True)
    trials = Trials(
        SlotPool([slot]),
        SandboxRunner(LocalRunner(), hidden=[root / "run"]),
        dict(os.environ),
        root / "run",
        root / "pids",
    )
    roots: dict[int, str] = {}
    seen: list[dict] = []
    stop = threading.Event()

    def watch() -> None:
        nvml = NvmlBackend()
        if nvml.start():
            return
        try:
            while not stop.is_set():
                pids = [pid for h in nvml.handles for pid, _ in nvml.processes(h)]
                if pids and roots:
                    seen.append({str(k): v for k, v in attribute_pids(pids, dict(roots)).items()})
                time.sleep(0.5)
        finally:
            nvml.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def started(pid: int | None) -> None:
        if pid is not None:
            roots[pid] = "gpu-pane"

    result = await trials.run(trial(cwd, 1, CUDA_JOB), on_pid=started)
    stop.set()
    watcher.join(5)
    log = Path(result.log_path).read_text(errors="replace")
    attributed = [s for s in seen if "gpu-pane" in s.values()]
    return {
        "gpu": name,
        "uuid": uuid,
        "exit_code": result.exit_code,
        "metric": result.metric,
        "log_tail": log[-600:],
        "nvml_samples": len(seen),
        "attributed_to_pane": len(attributed),
        "unattributed": sum(1 for s in seen for v in s.values() if v is None),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--json", default="")
    args = parser.parse_args()
    usable, why = availability()
    out = {"sandbox": why, "host": os.uname().nodename, "cpus": os.cpu_count(), "load": os.getloadavg()}
    if usable:
        with tempfile.TemporaryDirectory() as tmp:
            out["overhead"] = await overhead(Path(tmp) / "o", args.runs)
            out["gpu"] = await gpu_check(Path(tmp) / "g")
    print(json.dumps(out, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
