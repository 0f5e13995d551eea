"""Fault injection: experiments that misbehave in every way; the loop survives them all."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from conftest import write_config
from engine_helpers import ScriptedAgent, Step, check_invariants, leftover_processes, run_orchestra

from conductor.core.ledger import Ledger
from conductor.core.rundir import RunDir


def test_misbehaving_experiments(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, extra="timeout_s = 20\n")
    steps = [
        Step("forks a daemon", edits={"train.py": {"MODE": '"daemon"', "X": "1.0"}}),
        Step("prints 200 MB", edits={"train.py": {"MODE": '"bigoutput"', "X": "1.5"}}),
        Step("prints invalid utf-8", edits={"train.py": {"MODE": '"badutf8"', "X": "2.0"}}),
        Step("deletes results.tsv", edits={"train.py": {"MODE": '"deltsv"', "X": "2.5"}}),
    ]
    run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=5)
    run_dir = tmp_path / ".conductor"
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments("fast")
    ledger.close()
    assert [(r.description, r.status) for r in rows[1:]] == [
        ("forks a daemon", "keep"),
        ("prints 200 MB", "keep"),
        ("prints invalid utf-8", "keep"),
        ("deletes results.tsv", "keep"),
    ]
    assert [r.metric for r in rows[1:]] == [14.0, 12.25, 11.0, 10.25]
    big = [r for r in rows if r.description == "prints 200 MB"][0]
    from pathlib import Path

    # the log keeps its head and tail within the default cap (max_log_mb = 64); the metric counts
    log = Path(big.log_path).read_bytes()
    assert 48 * 2**20 < len(log) <= 64 * 2**20 and log.count(b"bytes of output cut here (max_log_mb)") == 1
    assert log.rstrip().endswith(b"seed:             0")
    # the daemon left the process group, but carried the experiment's tag: it is gone
    assert leftover_processes(run_dir) == []
    # results.tsv was deleted mid-run and rebuilt whole from the ledger
    check_invariants(run_dir)


def test_secrets_never_reach_any_file_of_the_run(tmp_path, fastws, monkeypatch):
    key = "sk-ant-test-0123456789abcdef"
    monkeypatch.setenv("ANTHROPIC_API_KEY", key)
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret-value-42")
    cfg = write_config(tmp_path, fastws)
    train = (fastws / "train.py").read_text()
    leaky = train.replace(
        'print("---")',
        'print("env key:", os.environ.get("ANTHROPIC_API_KEY"), os.environ.get("WANDB_API_KEY"))\nprint("---")',
    )
    steps = [
        Step(f"try with key {key}", raw={"train.py": leaky}),
        Step("researcher pasted it", edits={"train.py": {"X": "2.0"}}),
    ]

    class Chatty(ScriptedAgent):
        async def run(self, session):
            session.activity("text", f"my key is {key}")
            session.say(f"here is the wandb key wandb-secret-value-42 and {key}")
            await super().run(session)

    run_orchestra(cfg, {"fast": Chatty(steps)}, max_experiments=3)
    run_dir = tmp_path / ".conductor"
    hits = []
    for path in run_dir.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if key.encode() in data or b"wandb-secret-value-42" in data:
                hits.append(str(path))
    assert hits == []
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments("fast")
    messages = ledger.messages("fast")
    ledger.close()
    assert rows[1].description == "try with key [redacted]"
    assert "env key: None None" in Path(rows[1].log_path).read_text()
    assert messages[-1][2] == "here is the wandb key [redacted] and [redacted]"


def test_unwritable_ledger_stops_the_pane_clearly_without_corruption(tmp_path, fastws):
    """A full disk, simulated by making the ledger read-only mid-run (root ignores chmod)."""
    import asyncio

    from conductor.agents.base import create_agent
    from conductor.config import load_config
    from conductor.core.orchestra import Orchestra

    cfg_path = write_config(tmp_path, fastws)
    orch = Orchestra(load_config(cfg_path), agent_factory=create_agent, max_experiments=10, telemetry=False)
    events = []

    def on_event(e):
        events.append(e)
        if e.type == "experiment_finished" and e.seq == 2:
            orch.ledger._db.execute("PRAGMA query_only = 1")

    orch.bus.subscribe(on_event)
    orch.open()
    try:
        asyncio.run(orch.run())
    finally:
        orch.close()
    errors = [e for e in events if e.type == "alert" and e.level == "error"]
    assert len(errors) == 1
    assert errors[0].message.startswith("the ledger cannot be written (attempt to write a readonly database)")
    with contextlib.closing(sqlite3.connect(tmp_path / ".conductor" / "ledger.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    assert len(ledger.experiments("fast")) == 2
    ledger.close()
    # the next start reconciles the commit that could not be recorded
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg_path), "--max-experiments", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "recorded interrupted experiment" in out.stdout
    check_invariants(tmp_path / ".conductor")


def wait_for_experiment(pid_dir, since: float, proc, timeout: float = 30.0) -> None:
    """Until an experiment started after `since` holds its pid file (or conductor exited)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        for pidfile in pid_dir.glob("*.pid") if pid_dir.is_dir() else ():
            with contextlib.suppress(FileNotFoundError):
                if pidfile.stat().st_mtime >= since:
                    return
        time.sleep(0.02)


@pytest.mark.timeout(600)  # 60 conductor starts: about a minute on an idle machine, much more on a loaded one
def test_kill_9_at_30_random_moments(tmp_path, fastws):
    """kill -9 of conductor at 30 random moments of a 2-pane run; after each, a restart
    reconciles and the invariants hold: keeps are ancestors of the head, ledger == TSV,
    trees clean at the best commit, no duplicate rows, no orphan process."""
    import os
    import random
    import signal
    import subprocess
    import sys
    import time

    rng = random.Random(20261125)
    cfg = write_config(tmp_path, fastws, panes=2)
    train = fastws / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", "SLEEP = 0.15"))
    run_dir = tmp_path / ".conductor"
    cmd = [sys.executable, "-m", "conductor", "run", "-c", str(cfg)]
    pid_dir = RunDir(run_dir).pid_dir
    for _ in range(30):
        started = time.time()
        proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # the moment is random within the run, not within the interpreter's start-up: on a
        # loaded machine a fixed delay often killed conductor before any experiment began
        wait_for_experiment(pid_dir, since=started, proc=proc)
        time.sleep(rng.uniform(0.0, 1.0))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # a restart that only reconciles: every pane is already past one experiment
        done = subprocess.run(
            cmd + ["--max-experiments", "1"], cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        check_invariants(run_dir)
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments()
    ledger.close()
    interrupted = [r for r in rows if r.reason.startswith("interrupted")]
    # every kill lands in a running experiment (after the first, never a baseline), so each leaves a
    # row; only what ran can have been interrupted: a commit still queued for the slot is no row
    assert len(rows) >= 25 and len(rows) > len(interrupted) >= 1
    assert all(Path(r.log_path).is_file() for r in interrupted)
