"""Read a `conductor run --json` event log from a GPU run and say what the samples show:
GPU busy while experiments run and idle between, PID-to-pane attribution, memory per pane,
and (with several GPUs) that each experiment saw only its slot's GPU.

    python bench/gpu_analyze.py EVENTS.jsonl [STATUS.json]
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict


def main() -> None:
    with open(sys.argv[1]) as fh:
        events = [json.loads(line) for line in fh if line.startswith("{")]
    started = [e for e in events if e["type"] == "experiment_started"]
    finished = [e for e in events if e["type"] == "experiment_finished"]
    samples = [e for e in events if e["type"] == "slot_sample" and e["kind"] == "gpu"]
    print(f"{len(started)} experiments started, {len(finished)} finished, {len(samples)} GPU slot samples")
    busy = defaultdict(list)
    idle = defaultdict(list)
    for s in samples:
        if s["util"] is None:
            continue
        (busy if s["busy"] else idle)[s["slot"]].append(s["util"])
    for slot in sorted(set(busy) | set(idle)):
        b, i = busy.get(slot, []), idle.get(slot, [])
        mb = f"{statistics.fmean(b):.0f}% over {len(b)} samples" if b else "-"
        mi = f"{statistics.fmean(i):.0f}% over {len(i)} samples" if i else "-"
        print(f"{slot}: NVML util.gpu while an experiment holds the slot: {mb}; while idle: {mi}")
    sm = [s["extra"].get("sm_activity") for s in samples if s["busy"] and s["extra"].get("sm_activity") is not None]
    if sm:
        print(f"SM activity (NVML GPM) while busy: mean {statistics.fmean(sm):.0f}% over {len(sm)} samples")
    # attribution: every NVML process seen on a slot must belong to the pane holding that slot
    checked = agree = 0
    unresolved = 0
    mem_by_pane = defaultdict(list)
    for s in samples:
        for p in s["extra"].get("processes", []) or []:
            checked += 1
            if p["pane"] == s["pane"]:
                agree += 1
            if p["pane"] is None:
                unresolved += 1
            mem_by_pane[p["pane"]].append(p["mem_mb"])
    print(
        f"attribution: {agree}/{checked} NVML processes mapped to the pane holding their slot ({unresolved} unresolved)"
    )
    for pane, mems in sorted(mem_by_pane.items(), key=lambda kv: str(kv[0])):
        print(f"  {pane}: NVML per-process memory max {max(mems):.0f} MiB (median {statistics.median(mems):.0f} MiB)")
    for f in finished:
        print(
            f"  #{f['seq']} {f['pane']} on {f['slot']}: {f['status']} {f['metric_name']}={f['metric']} ({f['duration_s']:.1f}s)"
        )
    if len(sys.argv) > 2:
        with open(sys.argv[2]) as fh:
            status = json.load(fh)
        for slot in status.get("slots", []):
            print(
                f"duty {slot['slot']}: {slot['duty'] * 100:.1f}% of the run, {slot['experiments']} experiments, busy {slot['busy_s']}s"
            )


if __name__ == "__main__":
    main()
