"""Nodes joining and leaving a running cluster: their slots join and leave the pool.

Every few seconds the live nodes are compared with the ones the pool has slots on. A new
node is probed (as at start) and its slots are added, of the pool's kind: GPUs where the
pool has GPU slots, else `cpu_slots` CPU shares; the queue's head gets them at once. A node
gone has its slots retired: a free one leaves now, a held one when its trial ends (that trial
sees the node's death and runs again elsewhere, core/trial.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from conductor.core.cluster import nodes
from conductor.core.cluster.nodes import NodeInfo
from conductor.core.slots import SlotPool

WATCH_PERIOD_S = 5.0


def _changes(known: dict[str, NodeInfo]) -> tuple[list[NodeInfo], list[str]]:
    """Blocking (Ray calls): (nodes that joined, probed; ids of known nodes that left)."""
    live = {n["NodeID"] for n in nodes.live_nodes()}
    left = [node_id for node_id in known if node_id not in live]
    new = live - set(known)
    joined = nodes.probe_nodes(new, taken={n.name for n in known.values()}) if new else []
    return joined, left


async def watch_nodes(
    known: dict[str, NodeInfo],
    pool: SlotPool,
    kind: str,
    cpu_per_node: int,
    notify: Callable[[str], None],
    period_s: float = WATCH_PERIOD_S,
) -> None:
    """Runs until cancelled; `known` (node id -> info, shared with the runner) is kept current;
    `kind` is the pool's ("gpu" or "cpu")."""
    while True:
        await asyncio.sleep(period_s)
        try:
            joined, left = await asyncio.to_thread(_changes, known)
        except Exception as exc:  # noqa: BLE001 - a failed look at the cluster is retried next period
            notify(f"could not list the Ray cluster's nodes: {exc}")
            continue
        for node_id in left:
            gone = known.pop(node_id)
            names = {s.name for s in pool.slots if s.node == node_id}
            pool.retire(names)
            notify(f"Ray node {gone.name} left: slot(s) {', '.join(sorted(names)) or 'none'} removed")
        for node in joined:
            known[node.node_id] = node
            added = nodes.node_slots([node], kind, cpu_per_node, joining=True)
            for slot in added:
                pool.add(slot)
            notify(f"Ray node {node.name} joined: slot(s) {', '.join(s.name for s in added) or 'none'} added")
