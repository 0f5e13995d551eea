"""Bad workspaces and configs: exit 2 or a pane error, one clear line, nothing written
outside the run dir, and a bad pane never takes a good one down."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV, write_config


def snapshot(root: Path, exclude: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*")):
        if exclude in p.parents or p == exclude or "__pycache__" in p.parts:
            continue
        out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
    return out


def run(cfg: Path, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "2"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def git_init(path: Path, commit: bool = True) -> None:
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=path, check=True, env=env)
    if commit:
        subprocess.run(["git", "add", "-A"], cwd=path, check=True, env=env)
        subprocess.run(["git", "commit", "-qm", "init"], cwd=path, check=True, env=env)


def edit(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new))


# (id, how to break the workspace, extra config, expected exit, expected fragment, kind of failure)
CASES = [
    (
        "missing_program",
        lambda ws: (ws / "program.md").unlink(),
        'agent = { kind = "anthropic" }\n',
        2,
        "conductor.toml:4: program file 'program.md' not found",
        "exit",
    ),
    (
        "program_names_missing_file",
        lambda ws: (ws / "workspace.toml").write_text('program = "x.md"\n' + (ws / "workspace.toml").read_text()),
        'agent = { kind = "anthropic" }\n',
        2,
        "workspace.toml:1: program file 'x.md' not found",
        "exit",
    ),
    ("run_command_not_found", None, 'run = "no-such-trainer --go"\n', 1, "the run command was not found", "pane"),
    ("metric_never_printed", None, 'metric = "val_loss"\n', 1, "summary block has no 'val_loss' (it has: ", "pane"),
    (
        "metric_without_rule",
        lambda ws: edit(ws / "train.py", 'print("---")', "pass"),
        "",
        1,
        "the baseline printed 'score: ",
        "pane",
    ),
    (
        "no_summary_block",
        lambda ws: edit(ws / "train.py", 'MODE = "ok"', 'MODE = "nosummary"'),
        "",
        1,
        "no `---`",
        "pane",
    ),
    (
        "metric_not_a_number",
        lambda ws: edit(ws / "train.py", 'print(f"score:            {value:.6f}")', 'print("score: fast")'),
        "",
        1,
        "the baseline's score is 'fast', not a number",
        "pane",
    ),
    ("metric_nan", lambda ws: edit(ws / "train.py", 'MODE = "ok"', 'MODE = "nan"'), "", 1, "score is nan", "pane"),
    (
        "editable_file_missing",
        None,
        'editable = ["model.py"]\n',
        2,
        "conductor.toml:9: editable file 'model.py' does not exist",
        "exit",
    ),
    (
        "protected_file_missing",
        lambda ws: (ws / "prepare.py").unlink(),
        "",
        2,
        "workspace.toml:5: protected file 'prepare.py' does not exist",
        "exit",
    ),
    (
        "editable_star",
        None,
        'editable = ["*"]\n',
        2,
        "conductor.toml:9: editable '*' also matches the protected",
        "exit",
    ),
    (
        "editable_glob_no_match",
        None,
        'editable = ["*.rs"]\n',
        2,
        "conductor.toml:9: editable '*.rs' matches no",
        "exit",
    ),
    (
        "editable_escapes",
        None,
        'editable = ["../x.py"]\n',
        2,
        "conductor.toml:9: editable '../x.py' is outside",
        "exit",
    ),
    ("editable_absolute", None, 'editable = ["/etc/hosts"]\n', 2, "editable '/etc/hosts' is outside", "exit"),
    (
        "empty_metric",
        None,
        'metric = ""\n',
        2,
        "conductor.toml:9: 'workspace.metric' must be a non-empty string",
        "exit",
    ),
    ("empty_run", None, 'run = " "\n', 2, "conductor.toml:9: 'workspace.run' must be a non-empty string", "exit"),
    ("huge_panes", None, "", 2, "conductor.toml:7: 'workspace.panes' must be at most 256", "exit"),
    (
        "nan_budget",
        None,
        "time_budget_s = nan\n",
        2,
        "conductor.toml:9: 'workspace.time_budget_s' must be a finite",
        "exit",
    ),
    ("inf_timeout", None, "timeout_s = inf\n", 2, "conductor.toml:9: 'workspace.timeout_s' must be a finite", "exit"),
    ("knob_not_in_file", lambda ws: edit(ws / "train.py", "Y = 2.0", "YY = 2.0"), "", 1, "knob Y not found", "pane"),
    (
        "no_knobs_for_optuna",
        lambda ws: (ws / "workspace.toml").write_text((ws / "workspace.toml").read_text().split("[[knob]]")[0]),
        "",
        1,
        "declares no [[knob]]",
        "pane",
    ),
    ("repo_without_commits", lambda ws: git_init(ws, commit=False), "", 1, "has no commits yet", "pane"),
    (
        "protected_also_editable",
        None,
        'protected = ["train.py"]\n',
        2,
        "'train.py' is both editable and protected",
        "exit",
    ),
    ("workspace_toml_broken", lambda ws: (ws / "workspace.toml").write_text("run = \n"), "", 2, "invalid TOML", "exit"),
    (
        "workspace_toml_bad_goal",
        lambda ws: edit(ws / "workspace.toml", 'goal = "min"', 'goal = "lowest"'),
        "",
        2,
        'must be "min" or "max"',
        "exit",
    ),
    (
        "workspace_toml_agent_key",
        lambda ws: (ws / "workspace.toml").write_text('agent = "codex"\n' + (ws / "workspace.toml").read_text()),
        "",
        2,
        "unknown key 'agent' in workspace.toml",
        "exit",
    ),
    ("timeout_below_budget", None, "time_budget_s = 10\ntimeout_s = 5\n", 2, "must not be shorter", "exit"),
    (
        "anthropic_without_key",
        None,
        'agent = { kind = "anthropic" }\n',
        2,
        "uses the anthropic agent but ANTHROPIC_API_KEY is not set",
        "exit",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_workspace(tmp_path, fastws, case):
    name, breaker, extra, code, fragment, kind = case
    if breaker:
        breaker(fastws)
    agent = "optuna"
    if extra.startswith("agent = "):
        agent, extra = extra.split('"')[1], ""
    cfg = write_config(tmp_path, fastws, extra=extra, agent=agent)
    if name == "huge_panes":
        cfg = write_config(tmp_path, fastws, panes=99999999999999999999, agent=agent)
    before = snapshot(tmp_path, tmp_path / ".conductor")
    env = {"ANTHROPIC_API_KEY": ""} if name == "anthropic_without_key" else {}
    if "program" in name:
        env = {"ANTHROPIC_API_KEY": "test-key-not-real", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    out = run(cfg, tmp_path, env)
    assert out.returncode == code, (out.stdout, out.stderr)
    assert "Traceback" not in out.stderr + out.stdout
    if kind == "exit":
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("conductor: ") and fragment in lines[0], out.stderr
        assert not (tmp_path / ".conductor").exists()
    else:
        errors = [ln for ln in out.stdout.splitlines() if "[fast] error:" in ln]
        assert len(errors) == 1 and fragment in errors[0], out.stdout
    assert snapshot(tmp_path, tmp_path / ".conductor") == before, "nothing may be written outside the run dir"


def test_path_that_is_a_file(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hi")
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(f'[[workspace]]\npath = "{f}"\n')
    out = run(cfg, tmp_path)
    assert (
        out.returncode == 2
        and out.stderr.strip() == f"conductor: {cfg}:2: workspace path is not a folder or git repo: {f}"
    )


def test_runs_dir_that_is_a_file(tmp_path, fastws):
    (tmp_path / "taken").write_text("")
    cfg = write_config(tmp_path, fastws, head="")
    cfg.write_text(cfg.read_text().replace("[conductor]\n", '[conductor]\nruns_dir = "taken"\n'))
    out = run(cfg, tmp_path)
    assert out.returncode == 2 and "cannot create run dir" in out.stderr


def test_dirty_workspace_repo_warns_and_uses_head(tmp_path, fastws_repo):
    edit(fastws_repo / "train.py", "X = 0.5", "X = 3.0")  # uncommitted
    cfg = write_config(tmp_path, fastws_repo)
    out = run(cfg, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "workspace repo has uncommitted changes (train.py); panes start from its HEAD" in out.stdout
    status = json.loads(
        subprocess.run(
            [sys.executable, "-m", "conductor", "status", "-c", str(cfg), "--json"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        ).stdout
    )
    assert status["panes"][0]["baseline"] == 16.25  # HEAD's X = 0.5, not the dirty 3.0
    assert "X = 3.0" in (fastws_repo / "train.py").read_text()  # the user's edit is untouched


def test_a_bad_pane_does_not_stop_a_good_one(tmp_path, fastws):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(fastws, bad)
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        f'[conductor]\ncpu_slots = 1\n[agent]\nkind = "optuna"\n'
        f'[[workspace]]\nname = "good"\npath = "{fastws}"\n'
        f'[[workspace]]\nname = "bad"\npath = "{bad}"\nrun = "no-such-trainer"\n'
    )
    out = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "4"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1  # a pane ended in error
    assert "[bad] error: pane bad: the run command was not found" in out.stdout
    assert "[good] done: reached 4 experiments" in out.stdout


def test_workspace_repo_deleted_mid_run(tmp_path, fastws_repo, fastws):
    """The user's repo vanishes under a running pane: that pane errors, the other goes on."""
    import shutil
    import signal
    import time

    other = tmp_path / "other"
    shutil.copytree(fastws, other, ignore=shutil.ignore_patterns(".git"))
    edit(other / "train.py", "SLEEP = 0.05", "SLEEP = 0.3")
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        f'[conductor]\ncpu_slots = 2\n[agent]\nkind = "optuna"\n'
        f'[[workspace]]\nname = "doomed"\npath = "{fastws_repo}"\n'
        f'[[workspace]]\nname = "other"\npath = "{other}"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg), "--max-experiments", "12"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "[doomed] #3" in line:
            shutil.rmtree(fastws_repo)
            break
    rest = proc.stdout.read()
    code = proc.wait(timeout=60)
    out = "".join(lines) + rest
    assert code == 1, out
    errors = [ln for ln in out.splitlines() if "[doomed] error:" in ln]
    assert len(errors) == 1 and ("git failed" in errors[0] or "worktree" in errors[0]), out
    assert "[other] done: reached 12 experiments" in out
    del signal, time
