"""GPU telemetry on every node of a Ray cluster: one NVML sampler actor per node.

The head's monitor (core/monitor.py) samples once a second; for Ray slots it asks every
node's `NodeSampler` actor (pinned to its node, no CPU reserved) for its GPUs' readings,
the same `GpuReading`s the local sampler gives. Processes on a GPU are attributed on the
node itself: an experiment's processes carry `CONDUCTOR_PANE` in their environment (the
trial's env), read from /proc there, since the head's process tree cannot see the node's.
A node without NVML answers with its note and no readings; a node that does not answer
within the tick's budget gives no readings that tick (its slots show no utilisation).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict
from typing import Any

import psutil

from conductor.telemetry.gpu import GpuReading, GpuSampler, NodeGpus

ANSWER_TIMEOUT_S = 0.5
PANE_VAR = "CONDUCTOR_PANE"


class NodeSampler:
    """Runs on a node as a Ray actor: NVML there, and which pane each GPU process serves."""

    def __init__(self) -> None:
        self.gpu = GpuSampler()
        self.gpu.start()

    def sample(self) -> dict[str, Any]:
        readings = self.gpu.sample()
        pids = {pid for r in readings for pid, _ in (r.processes or ())}
        return {"readings": [asdict(r) for r in readings], "owners": _owners(pids), "note": self.gpu.note}


def _owners(pids: set[int]) -> dict[int, str]:
    out = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error, OSError):
            pane = psutil.Process(pid).environ().get(PANE_VAR)
            if pane:
                out[pid] = pane
    return out


def _reading(d: dict[str, Any]) -> GpuReading:
    procs = d.get("processes")
    return GpuReading(
        **{
            **d,
            "throttle": tuple(d.get("throttle") or ()),
            "processes": tuple((int(p), float(mb)) for p, mb in procs) if procs is not None else None,
        }
    )


class NodeTelemetry:
    """The head side: an actor per node, made when a node's slots are first sampled."""

    def __init__(self) -> None:
        self._actors: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}  # node id -> the question not answered yet

    def sample(self, node_ids: set[str]) -> dict[str, NodeGpus]:
        """Blocking (the monitor's thread): the readings of the nodes that answered by now. A
        node slower than the tick answers the question already asked, at a later tick: one
        question in flight per node, so a slow node never piles calls up."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        for node_id in node_ids - set(self._actors):
            self._actors[node_id] = (
                ray.remote(num_cpus=0, max_restarts=0)(NodeSampler)
                .options(scheduling_strategy=NodeAffinitySchedulingStrategy(node_id, soft=False))
                .remote()
            )
        for node_id in set(self._actors) - node_ids:  # the node left the pool
            self._pending.pop(node_id, None)
            with contextlib.suppress(Exception):
                ray.kill(self._actors.pop(node_id))
        for node_id in node_ids:
            if node_id not in self._pending:
                self._pending[node_id] = self._actors[node_id].sample.remote()
        asked = dict(self._pending)
        ready, _ = ray.wait(list(asked.values()), num_returns=len(asked), timeout=ANSWER_TIMEOUT_S)
        done = set(ready)
        out = {}
        for node_id, ref in asked.items():
            if ref not in done:
                continue
            del self._pending[node_id]
            try:
                answer = ray.get(ref)
            except ray.exceptions.RayError:
                self._actors.pop(node_id, None)  # a dead actor is made again next tick
                continue
            owners = {int(pid): pane for pid, pane in answer["owners"].items()}
            out[node_id] = NodeGpus([_reading(r) for r in answer["readings"]], owners, answer["note"])
        return out

    def close(self) -> None:
        import ray

        self._pending.clear()
        for actor in self._actors.values():
            with contextlib.suppress(Exception):
                ray.kill(actor)
        self._actors.clear()
