"""Per-experiment overhead of a Ray slot against a local one.

A local loopback cluster (a head and one worker node with one fake GPU) and the fast
workspace as a git repo; the same trial (`python train.py`, 0.05 s of sleep) runs `--trials`
times through `Trials` on a local slot (LocalRunner, sandboxed where bubblewrap works, as
`choose_runner` picks) and on the worker's Ray slot (RayRunner: git archive, object store,
unpack on the node, the node's sandbox, log streamed back). Overhead = the trial's wall time
around the runner minus the experiment process's own lifetime.

    python bench/ray_overhead.py [--trials 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported: every port on loopback

from _common import fast_workspace, machine, median, pct, tmpdir  # noqa: E402

from conductor.config import load_config  # noqa: E402
from conductor.core.orchestra import build_slots, choose_runner  # noqa: E402
from conductor.core.rundir import RunDir  # noqa: E402
from conductor.core.slots import SlotPool, cpu_slots  # noqa: E402
from conductor.core.trial import Trials, workspace_trial  # noqa: E402

GIT_ENV = {"GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}


def repo(ws: Path) -> str:
    env = {**os.environ, **GIT_ENV}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=ws, check=True, env=env)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ws, capture_output=True, text=True).stdout.strip()


async def timed(trials: Trials, trial, n: int) -> list[float]:
    out = []
    for i in range(n):
        t = replace(trial, seq=i + 1, log_path=trial.log_path.with_name(f"{i:04d}.log"))
        start = time.perf_counter()
        r = await trials.run(t)
        wall = time.perf_counter() - start
        assert r.value is not None, Path(r.log_path).read_text()
        out.append(wall - r.duration_s)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1"},
    )
    cluster.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1", env_vars={"CUDA_VISIBLE_DEVICES": "1"})
    cluster.wait_for_nodes()
    try:
        tmp = tmpdir()
        ws = fast_workspace(tmp, 0.05)
        commit = repo(ws)
        cfg_path = tmp / "conductor.toml"
        cfg_path.write_text(
            f'[conductor]\nslots = "ray"\nray_address = "{cluster.address}"\n'
            f'[[workspace]]\nname = "fast"\npath = "{ws}"\nagent = {{ kind = "optuna" }}\n'
        )
        cfg = load_config(cfg_path)
        layout = RunDir(tmp / "run")
        trial = workspace_trial(
            cfg.workspaces[0], pane="b", seq=1, seed=0, commit=commit, cwd=ws, log_path=tmp / "logs" / "x.log"
        )
        ray_slots, _ = build_slots(cfg)
        ray_runner, ray_note = choose_runner(cfg, layout)
        local_runner, local_note = choose_runner(replace(cfg, slots=1), layout)
        env = dict(os.environ)
        local = Trials(SlotPool(cpu_slots(1)), local_runner, env, layout.root, layout.pid_dir)
        remote = Trials(SlotPool(ray_slots), ray_runner, env, layout.root, layout.pid_dir)
        asyncio.run(timed(remote, trial, 2))  # warm: the node's worker process and imports
        lo = asyncio.run(timed(local, trial, args.trials))
        re = asyncio.run(timed(remote, trial, args.trials))
    finally:
        ray.shutdown()
        cluster.shutdown()
    print(machine())
    print(f"sandbox: local {local_note or 'on'}; ray {ray_note or 'on'}")
    for name, xs in (("local slot", lo), ("ray slot", re)):
        print(
            f"{name:>10}: overhead median {median(xs) * 1000:.0f} ms, p95 {pct(xs, 0.95) * 1000:.0f} ms ({len(xs)} trials)"
        )
    print(f"ray slot adds {(median(re) - median(lo)) * 1000:.0f} ms per experiment (median)")


if __name__ == "__main__":
    main()
