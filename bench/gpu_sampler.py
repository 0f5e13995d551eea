"""Cost of one NVML sampler tick per GPU (target: under 1 ms per GPU on average).

python bench/gpu_sampler.py [--ticks 60] [--interval 0.05]
"""

from __future__ import annotations

import argparse
import time

from _common import machine, median, pct

from conductor.telemetry.gpu import GpuSampler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ticks", type=int, default=60)
    ap.add_argument("--interval", type=float, default=0.05)
    args = ap.parse_args()
    sampler = GpuSampler()
    if not sampler.start():
        print(f"no GPU: {sampler.note}")
        return
    names = [sampler.backend.name(h) for h in sampler.backend.handles]
    costs = []
    reading = []
    for _ in range(args.ticks):
        t0 = time.perf_counter()
        reading = sampler.sample()
        costs.append((time.perf_counter() - t0) * 1000 / len(names))
        time.sleep(args.interval)
    sampler.stop()
    print(f"machine: {machine()}; GPUs: {', '.join(names)}")
    print(
        f"tick cost per GPU: mean {sum(costs) / len(costs):.3f} ms, median {median(costs):.3f} ms, "
        f"p95 {pct(costs, 0.95):.3f} ms over {len(costs)} ticks (process list every 2nd tick; GPM SM activity each tick)"
    )
    r = reading[0]
    print(
        f"last reading gpu0: util {r.util}%, mem {r.mem_used_mb:.0f}/{r.mem_total_mb:.0f} MiB, {r.temp_c} C, "
        f"SM {r.sm_clock_mhz} MHz, throttle {r.throttle or '-'}, SM activity (GPM) {r.sm_activity}"
    )


if __name__ == "__main__":
    main()
