"""What runs on a node for one trial: unpack the commit's tree, run it, stream its output.

A Ray streaming-generator task: it unpacks the tree (a `git archive` tar shipped through the
object store) into a fresh folder, runs the trial there through the same local runner a
local slot uses (inside bubblewrap where the node has it), and yields the output as it comes
(bytes chunks), then a final dict with the exit status. The output reaches this task through
a FIFO that the local runner takes for its log file, so nothing is kept on the node's disk
and the head writes, redacts, caps and parses the log exactly as for a local run.

Cancelling the task (the head stopped the trial) interrupts the generator, which cancels
the local run: the runner kills the experiment's process group and tagged stragglers.
"""

from __future__ import annotations

import asyncio
import io
import os
import select
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from conductor.core.experiment import experiment_env
from conductor.core.node_setup import OUTPUT_TAIL_BYTES, SetupRequest, SetupResult, run_setup_in
from conductor.core.runner import LocalRunner, Runner, Trial
from conductor.core.sandbox import SandboxRunner
from conductor.core.secrets import Redactor, SecretNames
from conductor.core.slots import Slot

CHUNK = 2**20
NO_CAP = 2**62  # the head caps the log; a FIFO cannot be compacted


def node_env(changed: dict[str, str], dropped: list[str], secret_names: tuple[str, ...]) -> dict[str, str]:
    """This node's environment less its secrets and Ray's own variables, with what conductor
    set or changed for the trial (the slot's device, the seed, the budget) on top."""
    names = SecretNames(secret_names)
    base = {k: v for k, v in os.environ.items() if k not in dropped and not k.startswith("RAY_")}
    return experiment_env(base, {}, changed, names)


class _LocalRun:
    """The trial's local run in a thread of its own (the generator must keep yielding)."""

    def __init__(self, runner: Runner, trial: Trial, slot: Slot, env: dict[str, str], pidfile: Path, tag: str):
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task | None = None
        self._args = (runner, trial, slot, env, pidfile, tag)
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._main, name="conductor-trial", daemon=True)

    def start(self) -> None:
        self.thread.start()
        self._ready.wait()

    def _main(self) -> None:
        runner, trial, slot, env, pidfile, tag = self._args
        self._task = self._loop.create_task(runner.run(trial, slot, env, pidfile=pidfile, tag=tag))
        self._ready.set()
        try:
            r = self._loop.run_until_complete(self._task)
            self.result = {
                "exit_code": r.exit_code,
                "timed_out": r.timed_out,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
            }
        except BaseException as exc:  # noqa: BLE001 - reported to the head as the run's failure
            self.error = exc
        finally:
            self._loop.close()

    def cancel(self) -> None:
        """Kill the run (its runner kills the process group) and wait until it is gone."""
        if self._task is not None and self.thread.is_alive():
            self._loop.call_soon_threadsafe(self._task.cancel)
        self.thread.join(timeout=30)


def run_setup(
    tree: bytes, request: SetupRequest, changed: dict[str, str], dropped: list[str], secret_names: tuple[str, ...]
) -> SetupResult:
    """The node side of `RayRunner.run_setup`: the checkout is kept in the node's temp folder
    per node and setup key (nodes can share a machine and its /tmp), the output's tail goes
    back to the head."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    base = Path(tempfile.gettempdir()) / "conductor-setup" / node[:16] / request.key
    result = run_setup_in(base, tree, request.command, node_env(changed, dropped, secret_names), request.timeout_s)
    return replace(result, output=result.output[-OUTPUT_TAIL_BYTES:])


def run_trial(
    tree: bytes,
    trial: Trial,
    slot: Slot,
    changed: dict[str, str],
    dropped: list[str],
    secret_names: tuple[str, ...],
    sandbox: bool,
    tag: str,
) -> Iterator[bytes | dict[str, Any]]:
    """The node side of `RayRunner.run` (a streaming generator task)."""
    work = Path(tempfile.mkdtemp(prefix="conductor-trial-"))
    run: _LocalRun | None = None
    try:
        checkout = work / "tree"
        checkout.mkdir()
        with tarfile.open(fileobj=io.BytesIO(tree)) as tar:
            tar.extractall(checkout, filter="data")
        fifo = work / "output"
        os.mkfifo(fifo)
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        here = replace(trial, cwd=checkout, log_path=fifo, max_log_bytes=NO_CAP)
        runner: Runner = LocalRunner(Redactor({}))  # the head redacts, with its own secrets
        if sandbox:
            runner = SandboxRunner(runner, hidden=[])
        env = node_env(changed, dropped, secret_names)
        run = _LocalRun(runner, here, slot, env, work / "pid", tag)
        run.start()
        poll = select.poll()
        poll.register(reader, select.POLLIN)
        while True:
            done = not run.thread.is_alive()
            poll.poll(100)
            try:
                data = os.read(reader, CHUNK)
            except BlockingIOError:
                data = b""
            if data:
                yield data
            elif done:
                break
            else:
                run.thread.join(timeout=0.05)  # no writer yet, or between writes
        os.close(reader)
        if run.error is not None:
            raise run.error
        assert run.result is not None
        yield run.result
    finally:
        if run is not None:
            run.cancel()
        shutil.rmtree(work, ignore_errors=True)
