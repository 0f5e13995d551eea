"""Slot duty on 3 Ray nodes against the local pool: K panes over S slots, side by side.

The same orchestra, agents and workspace run twice for the same time: first on S local
slots, then on a loopback Ray cluster of a head (no GPU) and S worker nodes with one fake
GPU each (`slots = "ray"`: every experiment ships its commit's tree to its node and streams
its log back). Duty = experiment time on the slots / (S x the window from the last baseline
to the last experiment). Goal: Ray's duty within 5% of the local pool's.

    python bench/ray_duty.py [--panes 6] [--slots 3] [--think 1] [--exp 3] [--seconds 90]
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported: every port on loopback

from _common import config, fast_workspace, machine, run_for, tmpdir  # noqa: E402
from duty import ThinkingAgent, after_baselines  # noqa: E402


def duty(run_dir, slots: int) -> tuple[float, int, float]:
    """(duty, experiments, experiments an hour) after the baselines."""
    done, window = after_baselines(run_dir)
    return sum(r.duration_s for r in done) / (slots * window), len(done), len(done) / window * 3600


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--panes", type=int, default=6)
    ap.add_argument("--slots", type=int, default=3)
    ap.add_argument("--think", type=float, default=1.0)
    ap.add_argument("--exp", type=float, default=3.0)
    ap.add_argument("--seconds", type=float, default=90)
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    tmp = tmpdir()
    ws = fast_workspace(tmp, args.exp)
    results = {}
    local_dir = tmp / "local"
    local_dir.mkdir()
    cfg = config(local_dir, ws, args.panes, args.slots, budget_s=args.exp, timeout_s=args.exp * 4 + 30)
    orch = run_for(cfg, args.seconds, lambda _c: ThinkingAgent(args.think))
    results["local pool"] = duty(orch.run_dir, args.slots)

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"},
    )
    for i in range(args.slots):
        env = {"CUDA_VISIBLE_DEVICES": str(i + 1)}
        cluster.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1", env_vars=env)
    cluster.wait_for_nodes()
    try:
        ray_dir = tmp / "ray"
        ray_dir.mkdir()
        cfg = config(ray_dir, ws, args.panes, 1, budget_s=args.exp, timeout_s=args.exp * 4 + 30)
        cfg = replace(cfg, slots="ray", ray_address=cluster.address)
        orch = run_for(cfg, args.seconds, lambda _c: ThinkingAgent(args.think))
        assert len(orch.pool.slots) == args.slots, [s.name for s in orch.pool.slots]
        results[f"Ray, {args.slots} nodes"] = duty(orch.run_dir, args.slots)
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(machine())
    print(
        f"{args.panes} panes over {args.slots} slots, think {args.think:g} s, experiment {args.exp:g} s, {args.seconds:g} s a mode"
    )
    for name, (d, n, per_hour) in results.items():
        print(f"{name:>16}: duty {d * 100:.1f}%  ({n} experiments, {per_hour:.0f}/h)")
    (local, *_), (remote, *_) = results.values()
    print(f"Ray duty is {remote / local * 100:.1f}% of the local pool's")


if __name__ == "__main__":
    main()
