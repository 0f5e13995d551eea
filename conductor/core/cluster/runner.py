"""`RayRunner`: a trial on its slot's node of a Ray cluster, behind the runner seam.

The commit's tree (`git archive` of `trial.commit`, at most `max_tree_bytes`) goes to the node
through the object store; a task pinned to the node (`remote.run_trial`, no Ray GPU request:
the slot pool is the accounting, and the slot's CUDA_VISIBLE_DEVICES picks the GPU) runs it
there and streams its output back, which goes through the same log pump as a local run's
(redacted with the head's secrets, capped, summary parsed here). Exactly one execution:
`max_retries=0`. When the node dies under the task the runner raises `SlotLost` naming the
node and `Trials` runs the trial again elsewhere; a worker that crashed on a node that is
still alive is the experiment's own crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from conductor.core.cluster import nodes
from conductor.core.cluster.nodes import NodeInfo
from conductor.core.cluster.remote import run_setup, run_trial
from conductor.core.cluster.telemetry import NodeTelemetry
from conductor.core.cluster.watch import WATCH_PERIOD_S, watch_nodes
from conductor.core.experiment import kill_tagged_under
from conductor.core.gitsafe import GitError, run_git_bytes
from conductor.core.logfile import CappedLog, LogPump
from conductor.core.node_setup import SetupRequest, SetupResult
from conductor.core.runner import SlotLost, Trial, TrialResult
from conductor.core.secrets import Redactor
from conductor.core.slots import Slot, SlotPool
from conductor.telemetry.gpu import NodeGpus

DEFAULT_MAX_TREE_BYTES = 100 * 2**20
LOST_GRACE_S = 30.0  # how long a crashed worker's node may take to be declared dead


class TreeTooLarge(Exception):
    pass


def commit_tree(repo: Path, commit: str, max_bytes: int) -> bytes:
    """The commit's files as a tar (`git archive`, the hardened way like every git call): what the node runs."""
    try:
        tree = run_git_bytes(repo, "archive", "--format=tar", commit)
    except GitError as exc:
        raise TreeTooLarge(f"git archive {commit[:12]} failed: {exc.stderr.strip()}") from None
    if len(tree) > max_bytes:
        raise TreeTooLarge(
            f"the tree of commit {commit[:12]} is {_size(len(tree))}, over the "
            f"{_size(max_bytes)} a Ray slot takes (ray_max_tree_mb): keep data out of git "
            "and give it to the nodes through the workspace's data folders"
        )
    return tree


def _size(n: int) -> str:
    return f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 1024:.1f} KiB"


class RayRunner:
    """Runs each trial on its slot's node; `nodes_by_id` says which nodes may sandbox.

    The experiment's process lives on the node, where the local runner reaps it and its
    stragglers (by group and tag): no pid file is written here and `on_start` gets no pid."""

    def __init__(
        self,
        nodes_by_id: dict[str, NodeInfo],
        redactor: Redactor,
        *,
        sandbox: bool = True,
        secret_names: tuple[str, ...] = (),
        max_tree_bytes: int = DEFAULT_MAX_TREE_BYTES,
        lost_grace_s: float = LOST_GRACE_S,
        cpu_per_node: int = 1,
        watch_period_s: float = WATCH_PERIOD_S,
    ):
        self.nodes = nodes_by_id
        self.redactor = redactor
        self.sandbox = sandbox
        self.secret_names = secret_names
        self.max_tree_bytes = max_tree_bytes
        self.lost_grace_s = lost_grace_s
        self.cpu_per_node = cpu_per_node
        self.watch_period_s = watch_period_s
        self._telemetry: NodeTelemetry | None = None

    async def watch_slots(self, pool: SlotPool, notify: Callable[[str], None]) -> None:
        """Nodes that join give slots, nodes that leave take theirs (core/cluster/watch.py)."""
        kind = "gpu" if any(s.kind == "gpu" for s in pool.slots) else "cpu"
        await watch_nodes(self.nodes, pool, kind, self.cpu_per_node, notify, self.watch_period_s)

    def sample_nodes(self, node_ids: set[str]) -> dict[str, NodeGpus]:
        """Every node's GPUs, from its NVML sampler actor (core/cluster/telemetry.py)."""
        if self._telemetry is None:
            self._telemetry = NodeTelemetry()
        return self._telemetry.sample(node_ids)

    def reap_leftovers(self, tag_prefix: str) -> list[str]:
        """On every live node, kill what a killed conductor of this run dir left running
        there (the Ray task died with its driver; the experiment's own process group did not)."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        reap = ray.remote(num_cpus=0, max_retries=0)(kill_tagged_under)
        live, machines = [], set()
        for n in self.nodes.values():  # one reap a machine: its nodes see the same processes
            if nodes.node_alive(n.node_id) and (not n.machine or n.machine not in machines):
                live.append(n)
                machines.add(n.machine)
        refs = [
            reap.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False)).remote(tag_prefix)
            for n in live
        ]
        killed = []
        for node, ref in zip(live, refs, strict=True):
            with contextlib.suppress(ray.exceptions.RayError, TimeoutError):
                killed += [f"{node.name}:{pid}" for pid in ray.get(ref, timeout=60)]
        return killed

    async def run_setup(self, request: SetupRequest, slot: Slot, env: dict[str, str], base: Path) -> SetupResult:
        """The workspace's setup on the slot's node, in a checkout kept there per key."""
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        try:
            tree = await asyncio.to_thread(commit_tree, request.repo, request.commit, self.max_tree_bytes)
        except TreeTooLarge as exc:
            return SetupResult(None, False, str(exc))
        changed, dropped = _env_delta(env)
        task = _remote_setup().options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node, soft=False),
            name=f"conductor:setup:{request.key}",
        )
        try:
            return await task.remote(ray.put(tree), request, changed, dropped, self.secret_names)
        except ray.exceptions.RayError as exc:
            first = str(exc).strip().splitlines()[:1] or [""]
            return SetupResult(None, False, f"the setup task failed in Ray: {type(exc).__name__}: {first[0][:300]}")

    async def run(
        self,
        trial: Trial,
        slot: Slot,
        env: dict[str, str],
        *,
        pidfile: Path,
        tag: str,
        on_start: Callable[[int | None], None] | None = None,
    ) -> TrialResult:
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        started = time.time()
        node = self.nodes.get(slot.node)
        try:
            tree = await asyncio.to_thread(commit_tree, trial.cwd, trial.commit, self.max_tree_bytes)
        except TreeTooLarge as exc:
            return self._refused(trial, slot, started, str(exc))
        changed, dropped = _env_delta(env)
        sandboxed = self.sandbox and node is not None and node.sandbox
        task = _remote_run_trial().options(
            num_returns="streaming",
            scheduling_strategy=NodeAffinitySchedulingStrategy(slot.node, soft=False),
            name=f"conductor:{trial.tag}",
        )
        gen = task.remote(ray.put(tree), trial, slot, changed, dropped, self.secret_names, sandboxed, tag)
        read_fd, write_fd = LogPump.pipe()
        pump = LogPump(read_fd, CappedLog(trial.log_path, trial.max_log_bytes), self.redactor)
        pump.start()
        final: dict[str, Any] | None = None
        failure: BaseException | None = None
        try:
            async for ref in gen:
                item = await ref
                if isinstance(item, dict):
                    final = item
                else:
                    await asyncio.to_thread(_write_all, write_fd, item)
        except asyncio.CancelledError:
            ray.cancel(gen)
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(_drain(gen), timeout=10)
            os.close(write_fd)
            await asyncio.to_thread(pump.finish)
            raise
        except ray.exceptions.RayError as exc:
            failure = exc
        os.close(write_fd)
        summary = await asyncio.to_thread(pump.finish)
        finished = time.time()
        if failure is not None:
            where = node.name if node is not None else slot.name.rsplit(":", 1)[0]
            if await self._node_lost(failure, slot.node):
                why = f"node {where} was lost while running {trial.tag.split(':')[0]}'s trial on {slot.name}"
                _note(trial.log_path, f"[conductor: {why}: this attempt is interrupted]")
                raise SlotLost(slot, why)
            first = str(failure).strip().splitlines()[:1] or [""]
            _note(
                trial.log_path,
                f"[conductor: the run on {slot.name} failed in Ray: {type(failure).__name__}: {first[0][:300]}]",
            )
            return TrialResult(None, False, started, finished, str(trial.log_path), slot.name, trial.seed)
        assert final is not None
        return TrialResult(
            exit_code=final["exit_code"],
            timed_out=final["timed_out"],
            started_at=final["started_at"],
            finished_at=final["finished_at"],
            log_path=str(trial.log_path),
            slot=slot.name,
            seed=trial.seed,
            summary={} if final["timed_out"] else summary,
        )

    async def _node_lost(self, failure: BaseException, node_id: str) -> bool:
        """Did the failure come from the node's death? Ray may say so before its health
        checks do: a crashed worker counts as a lost node once the node is declared dead."""
        import ray

        if isinstance(failure, ray.exceptions.NodeDiedError):
            return True
        if not isinstance(failure, (ray.exceptions.WorkerCrashedError, ray.exceptions.TaskUnschedulableError)):
            return False
        deadline = time.monotonic() + self.lost_grace_s
        while time.monotonic() < deadline:
            if not await asyncio.to_thread(nodes.node_alive, node_id):
                return True
            await asyncio.sleep(0.5)
        return False

    def _refused(self, trial: Trial, slot: Slot, started: float, why: str) -> TrialResult:
        trial.log_path.parent.mkdir(parents=True, exist_ok=True)
        trial.log_path.write_text(f"[conductor: not run: {why}]\n")
        return TrialResult(None, False, started, time.time(), str(trial.log_path), slot.name, trial.seed)


@functools.cache
def _remote_run_trial() -> Any:
    """The node-side task, made once: exactly one execution per call (no retries)."""
    import ray

    return ray.remote(num_cpus=0, max_retries=0)(run_trial)


@functools.cache
def _remote_setup() -> Any:
    import ray

    return ray.remote(num_cpus=0, max_retries=0)(run_setup)


def _env_delta(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """What the trial's env sets or changes against the head's, and what it drops (secrets):
    the node applies them to its own environment."""
    return {k: v for k, v in env.items() if os.environ.get(k) != v}, [k for k in os.environ if k not in env]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


async def _drain(gen: Any) -> None:
    async for _ in gen:
        pass


def _note(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"\n{line}\n")
