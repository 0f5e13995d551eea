"""Slots across machines: the GPUs (or CPU shares) of a Ray cluster's nodes as slots.

`slots = "ray"` in `[conductor]` connects conductor to a Ray cluster (`ray_address`, else
RAY_ADDRESS, else the local `ray start` cluster) and makes every GPU of every live node a slot
`NODE:gpuN` (or `NODE:cpuN` shares where the cluster has no GPU, or with `ray_slot_kind =
"cpu"`), in the one `SlotPool` the panes queue on. `RayRunner` is the runner behind the seam
(core/runner.py) that runs a trial on its slot's node.

It lives under `conductor.core` rather than beside it because the orchestra picks it (a
deferred import in `build_slots` / `choose_runner`, only for `slots = "ray"`) and a sibling
package that imports the engine would make an import cycle; nothing here is imported unless
the config asks for Ray, so `conductor --help` and local runs never load `ray`.
"""
