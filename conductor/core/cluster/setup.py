"""`slots = "ray"`: the slots and the runner of a run on a Ray cluster, from its config.

The orchestra asks for the slots first and the runner second (`build_slots`, `choose_runner`
in core/orchestra.py); both come from one probe of the cluster's nodes, made once per
process and address, since the driver's connection to Ray is the process's anyway.
"""

from __future__ import annotations

import os

from conductor.config import Config
from conductor.core.cluster import nodes
from conductor.core.cluster.nodes import NodeInfo
from conductor.core.cluster.runner import RayRunner
from conductor.core.sandbox import NOT_SANDBOXED
from conductor.core.secrets import redactor_for
from conductor.core.slots import Slot
from conductor.errors import ConductorError

_probed: dict[str, list[NodeInfo]] = {}


def address(cfg: Config) -> str:
    return cfg.ray_address or os.environ.get("RAY_ADDRESS", "") or "auto"


def cluster_nodes(cfg: Config, *, fresh: bool = False) -> list[NodeInfo]:
    where = address(cfg)
    if fresh or where not in _probed:
        nodes.connect(where)
        _probed[where] = nodes.probe_nodes()
    return _probed[where]


def ray_slots(cfg: Config) -> tuple[list[Slot], str]:
    """Every GPU of every live node (or CPU shares), and one line about them."""
    found = cluster_nodes(cfg, fresh=True)
    slots = nodes.node_slots(found, cfg.ray_slot_kind, cfg.cpu_slots)
    return slots, f"{len(slots)} slot(s) on {len(found)} Ray node(s) at {address(cfg)}"


def ray_runner(cfg: Config) -> tuple[RayRunner, str]:
    """The runner, sandboxed on every node that has bubblewrap (`sandbox` as for local runs),
    and one line when some experiments are not sandboxed."""
    found = cluster_nodes(cfg)
    bare = [n for n in found if not n.sandbox]
    if cfg.sandbox == "on" and bare:
        raise ConductorError(f'sandbox = "on" but on node {bare[0].name}: {bare[0].sandbox_note}', cfg.source)
    if cfg.sandbox == "off":
        note = f'{NOT_SANDBOXED} (sandbox = "off")'
    elif bare:
        note = f"{NOT_SANDBOXED} on Ray node(s) {', '.join(n.name for n in bare)}: {bare[0].sandbox_note}"
    else:
        note = ""
    runner = RayRunner(
        {n.node_id: n for n in found},
        redactor_for(os.environ, cfg.secret_names),
        sandbox=cfg.sandbox != "off",
        secret_names=cfg.secret_names,
        max_tree_bytes=int(cfg.ray_max_tree_mb * 2**20),
        cpu_per_node=cfg.cpu_slots,
    )
    return runner, note
