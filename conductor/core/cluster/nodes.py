"""The cluster's nodes as conductor sees them, and the slots they give.

Each live node is probed once by a small task pinned to it: its host name, the GPU ids its
raylet hands out (its CUDA_VISIBLE_DEVICES, else 0..n-1), its CPU count, and whether
bubblewrap can sandbox experiments there. Slot names start with the node's name (its host
name, with a piece of its node id when several nodes share a host), so they say where an
experiment ran in every event, log and ledger row.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from typing import Any

from conductor.core.slots import Slot, cpu_slots
from conductor.errors import ConductorError

# Every Ray port on the address the cluster was started on; no dashboard is ever started.
RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


@dataclass(frozen=True)
class NodeInfo:
    node_id: str
    name: str
    gpu_ids: tuple[str, ...]
    cpus: int
    sandbox: bool  # bubblewrap can make namespaces there
    sandbox_note: str
    machine: str = ""  # hostname and PID namespace: nodes on one machine see the same processes


def connect(address: str) -> None:
    """Join the cluster at `address` as a driver (once per process), without log forwarding:
    conductor streams each trial's output itself. A cluster on loopback is joined on loopback
    (Ray would otherwise pick the machine's outside address for the driver)."""
    for k, v in RAY_ENV.items():  # read when ray is imported
        os.environ.setdefault(k, v)
    import ray

    if ray.is_initialized():
        return
    node_ip = "127.0.0.1" if _on_loopback(address) else None
    try:
        ray.init(
            address=address,
            log_to_driver=False,
            configure_logging=False,
            namespace="conductor",
            _node_ip_address=node_ip,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ConductorError(
            f'slots = "ray": cannot connect to the Ray cluster at {address or "auto"}: {exc}'
        ) from None


def _on_loopback(address: str) -> bool:
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def _probe() -> dict[str, Any]:
    """Runs on a node: what conductor needs to know about it."""
    from conductor.core.sandbox import availability

    usable, note = availability()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return {
        "hostname": socket.gethostname(),
        "machine": f"{socket.gethostname()}/{_pid_namespace()}",
        "visible": None if visible is None else [g for g in visible.split(",") if g.strip()],
        "cpus": os.cpu_count() or 1,
        "sandbox": usable,
        "sandbox_note": note,
    }


def live_nodes() -> list[dict[str, Any]]:
    import ray

    return [n for n in ray.nodes() if n.get("Alive")]


def node_alive(node_id: str) -> bool:
    return any(n["NodeID"] == node_id for n in live_nodes())


def probe_nodes(only: set[str] | None = None, taken: set[str] | frozenset[str] = frozenset()) -> list[NodeInfo]:
    """Probe every live node (`only` those node ids), in parallel, in the order Ray lists them;
    a node is named by its host, with a piece of its id where the host name is not unique
    among the nodes probed and the names `taken` already."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in live_nodes() if only is None or n["NodeID"] in only]
    probe = ray.remote(num_cpus=0, max_retries=0)(_probe)
    refs = [
        probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)).remote()
        for n in nodes
    ]
    answers = [_answer(ref) for ref in refs]
    probed = [(n, f) for n, f in zip(nodes, answers, strict=True) if f is not None]
    hosts = [f["hostname"] for _, f in probed]
    out = []
    for n, f in probed:
        gpus = int(n["Resources"].get("GPU", 0))
        ids = f["visible"][:gpus] if f["visible"] is not None else [str(i) for i in range(gpus)]
        host = f["hostname"]
        name = host if hosts.count(host) == 1 and host not in taken else f"{host}-{n['NodeID'][:6]}"
        cpus = int(n["Resources"].get("CPU", 0)) or f["cpus"]
        out.append(NodeInfo(n["NodeID"], name, tuple(ids), cpus, f["sandbox"], f["sandbox_note"], f.get("machine", "")))
    return out


def _answer(ref: Any) -> dict[str, Any] | None:
    """A node's probe, or None when the node went away meanwhile (it gives no slots)."""
    import ray

    try:
        return ray.get(ref, timeout=120)
    except (ray.exceptions.RayError, TimeoutError):
        return None


def node_slots(nodes: list[NodeInfo], kind: str, cpu_per_node: int, *, joining: bool = False) -> list[Slot]:
    """Every GPU of every node (`kind` "auto" with GPUs somewhere, or "gpu"), else
    `cpu_per_node` CPU shares of each node. Nodes `joining` a running pool of GPU slots
    (`kind` "gpu") give their GPUs, if any."""
    with_gpus = any(n.gpu_ids for n in nodes)
    if kind == "gpu" and not with_gpus:
        if joining:
            return []
        raise ConductorError('ray_slot_kind = "gpu" but no node of the Ray cluster has a GPU')
    slots = []
    for n in nodes:
        if kind != "cpu" and with_gpus:
            for i, gpu in enumerate(n.gpu_ids):
                env = {"CUDA_VISIBLE_DEVICES": gpu, "CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
                slots.append(Slot(f"{n.name}:gpu{i}", "gpu", env, f"{n.name} GPU {gpu}", index=i, node=n.node_id))
        else:
            for s in cpu_slots(cpu_per_node, n.cpus):
                slots.append(Slot(f"{n.name}:{s.name}", "cpu", s.env, f"{n.name} {s.label}", node=n.node_id))
    if not slots and not joining:
        raise ConductorError("the Ray cluster has no live node to run experiments on")
    return slots
