"""Experiments in the bubblewrap sandbox, tried as a hostile experiment would: a baseline whose
run command attacks, through the real orchestra, real bwrap, real processes."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest
from conftest import write_config
from engine_helpers import run_orchestra

from conductor.config import load_config
from conductor.core.ledger import Ledger
from conductor.core.orchestra import choose_runner
from conductor.core.rundir import RunDir
from conductor.core.sandbox import availability
from conductor.errors import ConductorError

pytestmark = pytest.mark.skipif(not availability()[0], reason=availability()[1])

SECRET = "sk-ant-test-0123456789abcdef"


def baseline_log(tmp_path: Path, fastws: Path, run: str, extra: str = "", monkeypatch=None) -> tuple[str, str]:
    """Run only the baseline with `run` before the workspace's command; (log text, status)."""
    if monkeypatch is not None:
        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
        monkeypatch.setenv("MY_SERVICE_TOKEN", SECRET)
    tmp_path.mkdir(parents=True, exist_ok=True)
    cfg = write_config(tmp_path, fastws, extra=f"run = '''{run}; python train.py'''\n{extra}")
    orch, _ = run_orchestra(cfg, max_experiments=1)
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        row = ledger.experiments("fast")[0]
        assert ledger.get_meta("sandbox") == "on"
    finally:
        ledger.close()
    return Path(row.log_path).read_text(errors="replace"), row.status


def test_the_run_dir_home_and_conductors_environment_are_out_of_reach(tmp_path, fastws, monkeypatch):
    fake_home = tmp_path / "home"
    (fake_home / ".ssh").mkdir(parents=True)
    (fake_home / ".ssh" / "id_rsa").write_text("PRIVATE KEY")
    monkeypatch.setenv("HOME", str(fake_home))
    run = (
        "ls -a $HOME; cat ~/.ssh/id_rsa " + str(fake_home) + "/.ssh/id_rsa; "
        "cat ../../ledger.db " + str(tmp_path / ".conductor" / "ledger.db") + "; "
        "cat /proc/1/environ /proc/*/environ | tr '\\0' '\\n' | grep -c sk-ant; "
        "ls /proc | grep -c '^[0-9]'; echo HOME=$HOME"
    )
    log, status = baseline_log(tmp_path, fastws, run, monkeypatch=monkeypatch)
    assert status == "keep", log
    assert "PRIVATE KEY" not in log and SECRET not in log
    assert "SQLite" not in log and "No such file" in log
    assert "HOME=/tmp/home" in log
    counts = [ln for ln in log.splitlines() if ln.strip().isdigit()]
    assert counts[0] == "0"  # no environment inside carries the key
    assert int(counts[1]) < 10  # only the experiment's own processes are visible


def test_git_state_and_protected_files_are_read_only(tmp_path, fastws):
    run = (
        "git config core.fsmonitor ./x.sh; echo rc=$?; "
        "echo hacked >> prepare.py; echo rc=$?; "
        "echo x > .git; echo rc=$?; touch newfile_ok"
    )
    log, status = baseline_log(tmp_path, fastws, run)
    assert status == "keep", log
    assert log.count("rc=0") == 0, log
    src = (fastws / "prepare.py").read_text()
    wt = RunDir(tmp_path / ".conductor").worktree("fast")
    assert (wt / "prepare.py").read_text() == src
    source = RunDir(tmp_path / ".conductor").source_repo("fast") / ".git" / "config"
    assert "fsmonitor" not in source.read_text()


def test_daemons_die_with_the_experiment_whatever_they_do(tmp_path, fastws):
    marker = f"conductor-sbx-{time.time_ns()}"
    run = f"cp /bin/sleep ./{marker}; (env -i setsid ./{marker} 300 &); (setsid env CONDUCTOR_EXPERIMENT=x ./{marker} 301 &)"
    log, status = baseline_log(tmp_path, fastws, run)
    assert status == "keep", log
    time.sleep(0.5)
    alive = [p.pid for p in psutil.process_iter(["name"]) if p.info["name"] == marker]
    assert alive == []


def test_network_off_cuts_even_loopback(tmp_path, fastws):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    threading.Thread(target=lambda: [server.accept() for _ in range(2)], daemon=True).start()
    probe = f'python -c "import socket; socket.create_connection((\\"127.0.0.1\\", {port}), 2); print(\\"NET-OK\\")"'
    try:
        on, _ = baseline_log(tmp_path / "on", fastws, probe)
        off, _ = baseline_log(tmp_path / "off", fastws, probe, extra="network = false\n")
    finally:
        server.close()
    assert "NET-OK" in on
    assert "NET-OK" not in off


def test_sandbox_on_refuses_to_start_without_bubblewrap(tmp_path, fastws, monkeypatch):
    cfg = load_config(write_config(tmp_path, fastws))
    monkeypatch.setattr("conductor.core.orchestra.availability", lambda: (False, "no bubblewrap here"))
    with pytest.raises(ConductorError, match='sandbox = "on" but no bubblewrap here'):
        choose_runner(_with_sandbox(cfg, "on"), RunDir(tmp_path / "run"))
    runner, note = choose_runner(_with_sandbox(cfg, "auto"), RunDir(tmp_path / "run"))
    assert note == "no bubblewrap here" and type(runner).__name__ == "LocalRunner"
    _, off = choose_runner(_with_sandbox(cfg, "off"), RunDir(tmp_path / "run"))
    assert "not sandboxed" in off


def _with_sandbox(cfg, mode: str):
    from dataclasses import replace

    return replace(cfg, sandbox=mode)


def test_bwrap_is_found_where_ci_installs_it():
    assert shutil.which("bwrap")
