"""Slots on a Ray cluster: a real 3-node cluster on loopback (a head without GPUs and two
workers with one fake GPU each), the real orchestra, real git, and a worker killed under a
running experiment."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest
from engine_helpers import ScriptedAgent, Step, check_invariants, run_orchestra

from conductor.config import load_config
from conductor.core.events import Alert
from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra, build_slots, choose_runner
from conductor.core.rundir import RunDir
from conductor.core.sandbox import availability
from conductor.core.slots import SlotPool
from conductor.core.trial import Trials, workspace_trial
from conductor.errors import ConductorError
from conductor.status import slot_status

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before ray is imported: every port on loopback
ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def cluster():
    # A killed node is found within about ten seconds; a live one on a loaded 2-core machine
    # may miss a few heartbeats without being declared dead (three half-second misses did).
    fast_health = {
        "health_check_period_ms": 1000,
        "health_check_timeout_ms": 2000,
        "health_check_failure_threshold": 10,
    }
    c = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "include_dashboard": False,
            "node_ip_address": "127.0.0.1",
            "_system_config": fast_health,
        },
    )
    workers = [
        c.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1", env_vars={"CUDA_VISIBLE_DEVICES": str(i)})
        for i in (1, 2)
    ]
    c.wait_for_nodes()
    yield c, workers
    ray.shutdown()
    c.shutdown()


def wait_until_dead(node_id: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes()):
        assert time.monotonic() < deadline, f"the cluster still counts node {node_id} alive"
        time.sleep(0.5)


def config(tmp_path: Path, ws: Path, address: str) -> Path:
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        f'[conductor]\nslots = "ray"\nray_address = "{address}"\nruns_dir = "{tmp_path / "run"}"\n\n'
        f'[[workspace]]\nname = "fast"\npath = "{ws}"\nagent = {{ kind = "optuna" }}\n'
    )
    return cfg


def test_every_gpu_of_every_node_is_a_slot_and_ray_listens_on_loopback_only(cluster, tmp_path, fastws):
    c, workers = cluster
    cfg = load_config(config(tmp_path, fastws, c.address))
    slots, note = build_slots(cfg)
    assert sorted(s.env["CUDA_VISIBLE_DEVICES"] for s in slots) == ["1", "2"]
    assert {s.node for s in slots} == {w.node_id for w in workers}
    assert all(s.kind == "gpu" and s.name.endswith(":gpu0") and s.name.split(":")[0] for s in slots)
    assert "2 slot(s) on 3 Ray node(s)" in note
    cpu = load_config(config(tmp_path, fastws, c.address))
    cpu_slots, _ = build_slots(replace(cpu, ray_slot_kind="cpu", cpu_slots=2))
    assert len(cpu_slots) == 6 and all(":cpu" in s.name for s in cpu_slots)
    ours = [psutil.Process(), *psutil.Process().children(recursive=True)]
    listening = [conn.laddr.ip for p in ours for conn in _connections(p) if conn.status == psutil.CONN_LISTEN]
    assert listening, "the cluster's processes listen somewhere"
    assert all(_loopback(ip) for ip in listening), sorted(set(listening))


def test_experiments_run_on_the_nodes_through_the_orchestra(cluster, tmp_path, fastws):
    c, _ = cluster
    agent = ScriptedAgent([Step("move x", edits={"train.py": {"X": "0.25"}})])
    orch, events = run_orchestra(config(tmp_path, fastws, c.address), {"fast": agent}, max_experiments=2)
    ledger = Ledger(orch.layout.ledger)
    try:
        rows = ledger.experiments("fast")
        slot_rows = slot_status(ledger)  # what `conductor status --json` lists
    finally:
        ledger.close()
    assert {(e["slot"], e["node"]) for e in slot_rows} == {(r.slot, r.slot.split(":")[0]) for r in rows}
    assert len(rows) == 2 and all(r.metric is not None for r in rows), [(r.status, r.reason) for r in rows]
    assert all(r.slot.endswith(":gpu0") for r in rows)
    log = Path(rows[1].log_path).read_text()
    assert "score:" in log and "seed:" in log  # streamed back live from the node, parsed here
    assert rows[1].description == "move x" and rows[1].metric != rows[0].metric


def test_stopping_a_trial_kills_its_process_on_the_node(cluster, tmp_path, fastws_repo):
    c, _ = cluster
    trials, trial = _trials_and_trial(tmp_path, fastws_repo, c.address)
    trial = replace(trial, command="echo started; sleep 61.25")

    async def scenario():
        run = asyncio.create_task(trials.run(trial))
        await _until_logged(trial.log_path, "started")
        while not _sleepers("61.25"):
            await asyncio.sleep(0.1)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run

    asyncio.run(scenario())
    deadline = time.monotonic() + 10
    while _sleepers("61.25"):
        assert time.monotonic() < deadline, "the experiment outlived its stop"
        time.sleep(0.2)
    assert all(trials.pool.holder(s.name) is None for s in trials.pool.slots)  # the slot is free again


def test_a_tree_over_the_limit_is_refused_with_a_clear_log(cluster, tmp_path, fastws_repo):
    c, _ = cluster
    trials, trial = _trials_and_trial(tmp_path, fastws_repo, c.address)
    trials.runner.max_tree_bytes = 1024
    result = asyncio.run(trials.run(trial))
    assert result.exit_code is None and result.value is None
    assert "KiB, over the 1.0 KiB a Ray slot takes (ray_max_tree_mb)" in trial.log_path.read_text()


def test_a_worker_killed_mid_experiment_interrupts_the_attempt_and_the_trial_runs_elsewhere(cluster, tmp_path, fastws):
    c, workers = cluster
    cfg = load_config(config(tmp_path, fastws, c.address))
    slots, _ = build_slots(cfg)
    victim = next(s for s in slots if s.env["CUDA_VISIBLE_DEVICES"] == "1")
    slots.sort(key=lambda s: s is victim)  # the baseline runs on the other slot, the experiment on the victim's
    train = (fastws / "train.py").read_text()
    slow = train.replace(
        "time.sleep(SLEEP)\n",
        'time.sleep(SLEEP)\nprint("home=" + os.environ["HOME"])\n'
        'if os.environ["CUDA_VISIBLE_DEVICES"] == "1":\n    print("started", flush=True)\n    time.sleep(60)\n',
        1,
    )
    agent = ScriptedAgent([Step("slow on one node", raw={"train.py": slow})])
    orch = Orchestra(cfg, agent_factory=lambda _: agent, max_experiments=2, slots=slots)
    events: list = []
    orch.bus.subscribe(events.append)
    orch.open()
    log_dir = orch.layout.log_dir("fast")

    def kill_when_started() -> None:
        deadline = time.monotonic() + 90
        while not any("started" in f.read_text() for f in log_dir.glob("*.log")):
            assert time.monotonic() < deadline, "the experiment never started on the victim's node"
            time.sleep(0.2)
        c.remove_node(next(w for w in workers if w.node_id == victim.node), allow_graceful=False)

    killer = threading.Thread(target=kill_when_started)
    killer.start()
    try:
        asyncio.run(orch.run())
    finally:
        orch.close()
        killer.join()
    # The trial learned of the loss from its task; the cluster may not have marked the node
    # dead yet. The tests after this one see a cluster that has.
    wait_until_dead(victim.node)
    ledger = Ledger(orch.layout.ledger)
    try:
        rows = ledger.experiments("fast")
    finally:
        ledger.close()
    assert [r.description for r in rows][1:] == ["slow on one node"]  # counted once
    assert rows[1].metric is not None and rows[1].slot != victim.name, (rows[1].status, rows[1].reason)
    node = victim.name.split(":")[0]
    alerts = [e.message for e in events if isinstance(e, Alert) and "was lost" in e.message]
    assert len(alerts) == 1 and f"node {node} was lost" in alerts[0] and "running again" in alerts[0]
    log = Path(rows[1].log_path)
    kept = log.with_name(log.stem + ".lost1.log").read_text()
    assert "started" in kept and "this attempt is interrupted" in kept
    final = log.read_text()
    assert "score:" in final and "started" not in final
    if availability()[0]:  # the node has bubblewrap: the trial ran in its sandbox
        assert "home=/tmp/home" in final
    check_invariants(orch.layout.root)


def test_setup_runs_once_on_each_node_and_a_node_whose_setup_fails_leaves_the_pool(cluster, tmp_path, fastws):
    c, _ = cluster
    cfg = config(tmp_path, fastws, c.address)
    gpus = sorted(s.env["CUDA_VISIBLE_DEVICES"] for s in build_slots(load_config(cfg))[0])
    if len(gpus) < 2:  # an earlier test took a node away: two are needed here
        c.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1", env_vars={"CUDA_VISIBLE_DEVICES": "5"})
        c.wait_for_nodes()
        gpus = sorted(s.env["CUDA_VISIBLE_DEVICES"] for s in build_slots(load_config(cfg))[0])
    good, bad = gpus[0], gpus[-1]
    counter, script = tmp_path / "setups", tmp_path / "setup.py"
    script.write_text(
        "import os, sys\n"
        f"open({str(counter)!r}, 'a').write(os.environ['CUDA_VISIBLE_DEVICES'] + '\\n')\n"
        "print('preparing on', os.environ['CUDA_VISIBLE_DEVICES'])\n"
        f"sys.exit(os.environ['CUDA_VISIBLE_DEVICES'] == {bad!r})\n"
    )
    cfg.write_text(cfg.read_text() + f'setup = "{sys.executable} {script}"\npanes = 2\n')
    orch, events = run_orchestra(cfg, max_experiments=2)
    ledger = Ledger(orch.layout.ledger)
    try:
        rows = ledger.experiments()
    finally:
        ledger.close()
    ran = counter.read_text().split()
    alerts = [e.message for e in events if isinstance(e, Alert)]
    assert len(ran) == len(set(ran)) and bad in ran and set(ran) <= set(gpus), (ran, gpus, alerts)  # once a node
    assert len(rows) == 4 and {r.status for r in rows} <= {"keep", "discard"}, [(r.status, r.reason) for r in rows]
    left = {s.env["CUDA_VISIBLE_DEVICES"] for s in orch.pool.slots}
    assert good in left and bad not in left
    assert {r.slot for r in rows} == {s.name for s in orch.pool.slots}
    failed = [e.message for e in events if isinstance(e, Alert) and "setup failed" in e.message]
    assert len(failed) == 1 and f"exited 1: preparing on {bad}" in failed[0] and "leave the pool" in failed[0], failed


def test_a_restart_after_kill_9_kills_what_ran_on_the_nodes_and_records_it_interrupted(cluster, tmp_path, fastws):
    """Ray kills the task of a dead driver, not the experiment's own process group: the next
    conductor of the run dir finds and kills it on its node."""
    c, _ = cluster
    train = (fastws / "train.py").read_text()
    (fastws / "train.py").write_text(
        train.replace(
            "time.sleep(SLEEP)\n",
            "if X != 0.5:  # the experiments, not the baseline\n"
            '    print("started", flush=True)\n    os.execvp("sleep", ["sleep", "61.75"])\n',
            1,
        )
    )
    cfg = config(tmp_path, fastws, c.address)
    cfg.write_text(cfg.read_text().replace("[[workspace]]", 'sandbox = "off"\n\n[[workspace]]') + "timeout_s = 120\n")
    cmd = [sys.executable, "-m", "conductor", "run", "-c", str(cfg)]
    first = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not _sleepers("61.75"):
        assert first.poll() is None and time.monotonic() < deadline, "the experiment never started on a node"
        time.sleep(0.2)
    first.kill()
    first.wait()
    time.sleep(3)  # Ray has seen its driver die and dropped the task
    left = _sleepers("61.75")  # a SIGKILLed worker leaves it; a worker given time to clean up does not
    # a restart that only reconciles: the baseline and the interrupted experiment are two
    done = subprocess.run(cmd + ["--max-experiments", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # whether Ray's worker or the restart killed what was `left` is a race; either way none is
    # left (the restart's own reaping is tested exactly below)
    assert not _sleepers("61.75"), (left, done.stdout)
    ledger = Ledger(tmp_path / "run" / "ledger.db")
    try:
        rows = ledger.experiments("fast")
    finally:
        ledger.close()
    assert [r.status for r in rows][1:] == ["interrupted"], [(r.status, r.reason) for r in rows]


def test_leftovers_of_a_run_dir_are_killed_on_every_node_and_nothing_else(cluster, tmp_path, fastws_repo):
    c, _ = cluster
    trials, _ = _trials_and_trial(tmp_path, fastws_repo, c.address)
    ours, theirs = f"{tmp_path / 'run'}:fast:experiment:3", f"{tmp_path / 'other'}:fast:experiment:3"

    def start(tag: str, arg: str) -> None:
        env = {**os.environ, "CONDUCTOR_EXPERIMENT": tag}
        subprocess.Popen(["sleep", arg], env=env, start_new_session=True)

    spawn = ray.remote(num_cpus=0)(start)
    ray.get([spawn.remote(ours, "62.25"), spawn.remote(theirs, "62.5")])
    try:
        assert _sleepers("62.25") and _sleepers("62.5")
        killed = trials.runner.reap_leftovers(f"{tmp_path / 'run'}:")
        assert len(killed) == 1 and killed[0].split(":")[1].isdigit(), killed
        deadline = time.monotonic() + 10
        while _sleepers("62.25"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert _sleepers("62.5")  # another run dir's experiment is not ours to kill
    finally:
        for pid in _sleepers("62.5") + _sleepers("62.25"):
            psutil.Process(pid).kill()


def test_every_node_answers_for_its_gpus_through_its_sampler_actor(cluster, tmp_path, fastws_repo):
    c, _ = cluster
    trials, _ = _trials_and_trial(tmp_path, fastws_repo, c.address)
    ids = {s.node for s in trials.pool.slots}  # the live GPU nodes (an earlier test killed one)
    deadline = time.monotonic() + 120
    answers = trials.runner.sample_nodes(ids)
    while set(answers) != ids:  # the actors start within the first ticks; a slow one answers later
        assert time.monotonic() < deadline, answers
        time.sleep(0.5)
        answers |= trials.runner.sample_nodes(ids)
    for node in answers.values():  # these fake GPUs have no NVML behind them: a note, no readings
        assert node.readings == [] and node.note
    one = next(iter(ids))
    assert set(trials.runner.sample_nodes({one})) <= {one}


def test_nodes_that_join_and_leave_add_and_remove_their_slots(cluster, tmp_path, fastws_repo):
    c, _ = cluster
    trials, _ = _trials_and_trial(tmp_path, fastws_repo, c.address)
    pool, before = trials.pool, {s.name for s in trials.pool.slots}
    notes: list[str] = []

    async def until(condition) -> None:
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, (notes, [s.name for s in pool.slots])
            await asyncio.sleep(0.2)

    async def scenario():
        trials.runner.watch_period_s = 0.5
        watch = asyncio.create_task(trials.runner.watch_slots(pool, notes.append))
        # on the loop's thread: Ray starts a node with signal handlers (the watcher waits meanwhile)
        node = c.add_node(num_cpus=1, num_gpus=1, node_ip_address="127.0.0.1", env_vars={"CUDA_VISIBLE_DEVICES": "3"})
        await until(lambda: any(s.env["CUDA_VISIBLE_DEVICES"] == "3" for s in pool.slots))
        joined = next(s for s in pool.slots if s.node == node.node_id)
        assert joined.name.endswith(":gpu0") and joined.name not in before
        lease = await pool.acquire("someone")  # the new slot is leasable like any other
        pool.release(lease)
        await asyncio.to_thread(c.remove_node, node)
        await until(lambda: {s.name for s in pool.slots} == before)
        watch.cancel()

    asyncio.run(scenario())
    assert any("joined" in n for n in notes) and any("left" in n for n in notes), notes


def test_the_config_takes_ray_slots_and_refuses_unknown_kinds(tmp_path, fastws):
    cfg = load_config(config(tmp_path, fastws, "127.0.0.1:6379"))
    assert cfg.slots == "ray" and cfg.ray_address == "127.0.0.1:6379" and cfg.ray_slot_kind == "auto"
    bad = config(tmp_path, fastws, "127.0.0.1:6379")
    bad.write_text(bad.read_text().replace('slots = "ray"', 'slots = "ray"\nray_slot_kind = "tpu"'))
    with pytest.raises(ConductorError, match="ray_slot_kind"):
        load_config(bad)


def _trials_and_trial(tmp_path: Path, repo: Path, address: str):
    """Trials on the cluster's slots and a trial of the repo's HEAD, as the orchestra makes them."""
    cfg = load_config(config(tmp_path, repo, address))
    slots, _ = build_slots(cfg)
    layout = RunDir(tmp_path / "run")
    runner, _ = choose_runner(cfg, layout)
    trials = Trials(SlotPool(slots), runner, dict(os.environ), layout.root, layout.pid_dir)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    log_path = tmp_path / "logs" / "0001.log"
    trial = workspace_trial(cfg.workspaces[0], pane="fast", seq=1, seed=0, commit=commit, cwd=repo, log_path=log_path)
    return trials, trial


async def _until_logged(log_path: Path, text: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not (log_path.exists() and text in log_path.read_text()):
        assert time.monotonic() < deadline, f"{text!r} never reached {log_path}"
        await asyncio.sleep(0.2)


def _sleepers(arg: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", arg]]


def _loopback(ip: str) -> bool:
    """127.0.0.0/8, ::1, or 127.x as an IPv4-mapped IPv6 address."""
    addr = ipaddress.ip_address(ip)
    mapped = getattr(addr, "ipv4_mapped", None)
    return (mapped or addr).is_loopback


def _connections(p: psutil.Process):
    try:
        return p.net_connections(kind="inet")
    except psutil.Error:
        return []
