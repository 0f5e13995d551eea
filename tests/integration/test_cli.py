"""CLI verbs on real runs: init, run --json, status, copy of ignored files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import write_config

from conductor.config import load_config


def conductor(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_init_writes_a_loadable_commented_example(tmp_path):
    out = conductor("init", str(tmp_path / "proj"), cwd=tmp_path)
    assert out.returncode == 0
    path = tmp_path / "proj" / "conductor.toml"
    text = path.read_text()
    assert text.count("#") > 20
    cfg = load_config(path)  # `workspaces/tinygpt` resolves to the bundled workspace
    assert cfg.workspaces[0].name == "tinygpt" and cfg.workspaces[0].path.name == "tinygpt"
    again = conductor("init", str(tmp_path / "proj"), cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_run_json_prints_one_event_per_line(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    out = conductor("run", "-c", str(cfg), "--max-experiments", "3", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and types[-1] == "run_finished"
    finished = [e for e in events if e["type"] == "experiment_finished"]
    assert len(finished) == 3
    assert finished[0]["is_baseline"] and finished[0]["metric"] == 16.25
    assert {"pane", "seq", "commit", "status", "metric", "best", "delta", "description"} <= set(finished[1])


def test_status_table_and_json_shape(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, panes=2)
    assert conductor("run", "-c", str(cfg), "--max-experiments", "3", cwd=tmp_path).returncode == 0
    table = conductor("status", "--runs-dir", str(tmp_path / ".conductor"), cwd=tmp_path)
    assert table.returncode == 0
    assert "fast-1" in table.stdout and "fast-2" in table.stdout and "score↓" in table.stdout
    data = json.loads(conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    keys = {
        "name",
        "workspace",
        "agent",
        "branch",
        "worktree",
        "metric",
        "goal",
        "baseline",
        "best",
        "experiments",
        "keep",
        "discard",
        "crash",
        "rejected",
        "tokens",
        "usd",
    }
    for pane in data["panes"]:
        assert keys <= set(pane)
        assert pane["experiments"] == 3 and pane["agent"] == "optuna"
        assert pane["keep"] + pane["discard"] + pane["crash"] + pane["rejected"] == 2  # the baseline is no try
        assert set(pane["tokens"]) == {"input", "output", "cache_write", "cache_read"}
    assert data["totals"]["experiments"] == 6


def test_status_without_a_run_is_a_clear_error(tmp_path):
    out = conductor("status", "--runs-dir", str(tmp_path / "nothing"), cwd=tmp_path)
    assert out.returncode == 2 and "no run found" in out.stderr


def test_copy_brings_ignored_files_into_worktrees(tmp_path, fastws_repo):
    (fastws_repo / ".gitignore").write_text((fastws_repo / ".gitignore").read_text() + "data/\n")
    (fastws_repo / "data").mkdir()
    (fastws_repo / "data" / "shard.bin").write_bytes(b"\x00\x01" * 100)
    cfg = write_config(tmp_path, fastws_repo, extra='copy = ["data/*.bin"]\n')
    out = conductor("run", "-c", str(cfg), "--max-experiments", "2", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    copied = tmp_path / ".conductor" / "worktrees" / "fast" / "data" / "shard.bin"
    assert copied.read_bytes() == b"\x00\x01" * 100


def test_second_conductor_on_the_same_run_dir_is_refused(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    train = fastws / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", "SLEEP = 20"))
    first = subprocess.Popen(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg)], cwd=tmp_path, stdout=subprocess.PIPE, text=True
    )
    try:
        for line in first.stdout:
            if "running" in line:
                break
        second = conductor("run", "-c", str(cfg), cwd=tmp_path)
        assert second.returncode == 2
        assert "is in use by a running conductor" in second.stderr and "conductor attach" in second.stderr
    finally:
        first.terminate()
        first.wait(timeout=20)


def test_verify_reruns_a_recorded_commit(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    assert conductor("run", "-c", str(cfg), "--max-experiments", "3", cwd=tmp_path).returncode == 0
    status = json.loads(conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    best = status["panes"][0]["best_commit"]
    out = conductor("verify", "fast", best[:8], "--runs", "2", "-c", str(cfg), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "run 2/2 seed 2" in out.stdout
    assert f"recorded {status['panes'][0]['best']:.6f}" in out.stdout
    assert "sd 0.000000" in out.stdout  # the fast workspace is deterministic
    from conductor.core.ledger import Ledger

    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    rows = ledger.reruns()
    ledger.close()
    assert [(r.commit, r.seed) for r in rows] == [(best, 1), (best, 2)]
    # the throwaway worktree is gone and the pane's own is untouched
    assert not any((tmp_path / ".conductor" / "verify").iterdir())
    bad = conductor("verify", "fast", "deadbeef", "-c", str(cfg), cwd=tmp_path)
    assert bad.returncode == 2 and "no recorded experiment with commit deadbeef" in bad.stderr


def test_verify_reruns_get_the_experiment_env_tag_and_cleanup(tmp_path, fastws):
    """A verify re-run is a trial like any experiment: the pane's env, a pid file while it runs,
    and a tag by which the daemons it leaves behind (setsid) are found and killed."""
    import psutil

    shared = tmp_path / "shared"  # a writable data folder: the (sandboxed) run may write only there
    seen = shared / "seen.txt"
    run = f'echo "$CONDUCTOR_PANE $CONDUCTOR_SEED $CONDUCTOR_EXPERIMENT" >> {seen}; setsid sleep 300 & python train.py'
    data = f'data = [{{ path = "{shared}", writable = true }}]'
    cfg = write_config(tmp_path, fastws, extra=f"run = '{run}'\n{data}\n")
    assert conductor("run", "-c", str(cfg), "--max-experiments", "2", cwd=tmp_path).returncode == 0
    status = json.loads(conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    out = conductor(
        "verify", "fast", status["panes"][0]["best_commit"][:8], "--runs", "1", "-c", str(cfg), cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    verify_line = seen.read_text().splitlines()[-1].split()
    assert verify_line[:2] == ["fast", "1"] and ":verify:" in verify_line[2]
    assert not list((tmp_path / ".conductor" / "pids").glob("*.verify.*"))
    left = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if p.info["cmdline"][:2] == ["sleep", "300"] and str(tmp_path) in p.environ().get(
                "CONDUCTOR_EXPERIMENT", ""
            ):
                left.append(p.pid)
        except (psutil.Error, TypeError):
            continue
    assert left == []


def test_an_unsandboxed_run_says_so_in_status_and_on_the_top_bar(tmp_path, fastws):
    from conductor.core.events import RunStarted
    from conductor.ui.model import RunModel

    cfg = write_config(tmp_path, fastws)
    cfg.write_text(cfg.read_text().replace("[conductor]\n", '[conductor]\nsandbox = "off"\n', 1))
    out = conductor("run", "-c", str(cfg), "--max-experiments", "1", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    started = next(json.loads(ln) for ln in out.stdout.splitlines() if '"run_started"' in ln)
    assert "experiments are not sandboxed" in started["sandbox"]
    status = json.loads(conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    assert "experiments are not sandboxed" in status["sandbox"]
    assert "experiments are not sandboxed" in conductor("status", "-c", str(cfg), cwd=tmp_path).stdout
    model = RunModel(clock=lambda: 0.0)
    model.apply(RunStarted(run="r", run_dir="d", panes=(), slots=(), sandbox=started["sandbox"]))
    assert ("warning", started["sandbox"]) in model.derived_alerts(now=0.0)


def test_a_corrupt_ledger_is_one_line_and_exit_2_everywhere(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    run_dir = tmp_path / ".conductor"
    run_dir.mkdir()
    (run_dir / "ledger.db").write_bytes(b"this is not sqlite" * 1000)
    before = (run_dir / "ledger.db").read_bytes()
    for verb in (
        ["run", "--max-experiments", "1"],
        ["status"],
        ["status", "--json"],
        ["export", "-o", str(tmp_path / "x.csv")],
        ["report"],
    ):
        out = conductor(*verb, "-c", str(cfg), cwd=tmp_path)
        assert out.returncode == 2, (verb, out.stderr)
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "not a readable conductor ledger" in lines[0], (verb, out.stderr)
        assert "Traceback" not in out.stderr
    assert (run_dir / "ledger.db").read_bytes() == before
