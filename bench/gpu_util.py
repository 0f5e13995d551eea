"""One bundled-tinygpt experiment on a GPU slot through conductor, with NVML utilisation sampled
at 4 Hz while the experiment holds the slot (issue 20: the workspace scales itself on a GPU).

    python bench/gpu_util.py [--budget 60] [--gpu 0] [--target 60]

Prints the samples' mean and median over the whole hold (process start to exit: CUDA start-up
and the evaluation included) and over the active span (first to last busy sample), the
model the experiment trained (from its log) and PASS or FAIL against the target on the hold.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sample(gpu: int, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    try:
        import pynvml
    except ImportError:  # nvidia-smi asks NVML the same question
        return sample_with_smi(gpu, stop, out)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(gpu)
    try:
        while not stop.is_set():
            out.append((time.time(), float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)))
            stop.wait(0.25)
    finally:
        pynvml.nvmlShutdown()


def sample_with_smi(gpu: int, stop: threading.Event, out: list[tuple[float, float]]) -> None:
    query = ["nvidia-smi", "-i", str(gpu), "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
    while not stop.is_set():
        reading = subprocess.run(query, capture_output=True, text=True).stdout.strip()
        if reading.isdigit():
            out.append((time.time(), float(reading)))
        stop.wait(0.25)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=float, default=60.0)
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--target", type=float, default=60.0)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gpu-util-"))
    ws = REPO / "workspaces" / "tinygpt"
    (work / "conductor.toml").write_text(
        f'[conductor]\nruns_dir = "{work / "run"}"\nslots = [{args.gpu}]\n\n'
        f'[[workspace]]\nname = "tinygpt"\npath = "{ws}"\nrun = {json.dumps(sys.executable + " train.py")}\n'
        f"time_budget_s = {args.budget:g}\ntimeout_s = {args.budget * 3 + 120:g}\n"
        'agent = { kind = "optuna" }\n'
    )
    subprocess.run([sys.executable, str(ws / "prepare.py")], check=True, capture_output=True)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=sample, args=(args.gpu, stop, samples), daemon=True)
    sampler.start()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "conductor",
            "run",
            "-c",
            str(work / "conductor.toml"),
            "--max-experiments",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
    )
    stop.set()
    sampler.join()
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    started = next((e for e in events if e["type"] == "experiment_started"), None)
    finished = next((e for e in events if e["type"] == "experiment_finished"), None)
    if started is None or finished is None:
        print(f"no experiment ran (exit {run.returncode}):\n{run.stderr[-3000:]}")
        return 2
    log = Path(finished["log_path"]).read_text(errors="replace")
    held = [u for t, u in samples if started["ts"] <= t <= finished["ts"]]
    busy = [i for i, u in enumerate(held) if u > 0]
    active = held[busy[0] : busy[-1] + 1] if busy else []
    device = re.search(r"^device: .*$", log, re.M)
    print(f"experiment: {finished['status']} val_bpb {finished['metric']} in {finished['duration_s']:.1f} s")
    print(device.group(0) if device else "device: ? (no device line in the log)")
    for key in ("num_steps", "num_params_M", "peak_vram_mb", "training_seconds"):
        m = re.search(rf"^{key}:\s*(\S+)", log, re.M)
        print(f"{key}: {m.group(1) if m else '?'}")
    for name, values in (("hold", held), ("active", active)):
        if values:
            print(
                f"util.gpu over the {name}: mean {statistics.mean(values):.1f}% "
                f"median {statistics.median(values):.1f}% ({len(values)} samples at 4 Hz)"
            )
    mean = statistics.mean(held) if held else 0.0
    print(
        f"{'PASS' if mean >= args.target else 'FAIL'}: mean util.gpu {mean:.1f}% while the experiment held the slot "
        f"(target {args.target:g}%)"
    )
    return 0 if mean >= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
