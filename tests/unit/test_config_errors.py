"""Malformed configs: each ends as exit 2 and one line `conductor: FILE:LINE: what is wrong`."""

import subprocess
import sys
from pathlib import Path

import pytest

from conductor.cli import main

FASTWS = Path(__file__).resolve().parents[1] / "fixtures" / "fastws"
GOOD_WS = f'[[workspace]]\npath = "{FASTWS}"\n'

CORPUS = [
    # (name, toml text, expected line, expected fragment)
    (
        "unknown_top_key",
        "conductr = 1\n" + GOOD_WS,
        1,
        "unknown key 'conductr' in conductor.toml (did you mean 'conductor'?)",
    ),
    (
        "unknown_ws_key",
        GOOD_WS + "time_budget = 5\n",
        3,
        "unknown key 'time_budget' in [[workspace]] (did you mean 'time_budget_s'?)",
    ),
    (
        "unknown_agent_key",
        '[agent]\nmodle = "x"\n' + GOOD_WS,
        2,
        "unknown key 'modle' in [agent] (did you mean 'model'?)",
    ),
    ("wrong_type_panes", GOOD_WS + 'panes = "two"\n', 3, "'workspace.panes' must be an integer, got 'two'"),
    ("zero_panes", GOOD_WS + "panes = 0\n", 3, "must be at least 1"),
    ("bad_goal", GOOD_WS + 'goal = "minimize"\n', 3, '\'workspace.goal\' must be "min" or "max"'),
    ("missing_path", '[[workspace]]\nname = "x"\nrun = "python t.py"\n', 1, "is missing 'path'"),
    ("path_missing_on_disk", '[[workspace]]\npath = "/nonexistent/ws"\n', 2, "workspace path does not exist"),
    (
        "duplicate_panes",
        GOOD_WS + 'name = "a"\n' + GOOD_WS + 'name = "a"\n',
        6,
        "duplicate pane name 'a'",
    ),
    ("bad_toml", "[conductor\nslots = 1\n", 1, "invalid TOML"),
    ("bad_kind", '[agent]\nkind = "claude"\n' + GOOD_WS, 2, "(did you mean 'claude-code'?)"),
    ("bad_slots", '[conductor]\nslots = "many"\n' + GOOD_WS, 2, "'conductor.slots' must be \"auto\""),
    ("negative_budget", GOOD_WS + "time_budget_s = -5\n", 3, "must be a positive number"),
    ("timeout_below_budget", GOOD_WS + "time_budget_s = 30\ntimeout_s = 10\n", 4, "'timeout_s' must not be shorter"),
    ("editable_and_protected", GOOD_WS + 'protected = ["train.py"]\n', 3, "'train.py' is both editable and protected"),
    ("no_workspace", "[conductor]\ncpu_slots = 1\n", None, "no [[workspace]] declared"),
    ("workspace_not_array", '[workspace]\npath = "x"\n', 1, "[[workspace]] (an array of tables)"),
    ("price_bad", '[prices."m"]\ninput = "cheap"\n' + GOOD_WS, 2, "'prices.m.input' must be a number"),
    ("agent_inline_bad", GOOD_WS + 'agent = { kind = "optuna", budget = 3 }\n', 3, "unknown key 'budget' in [agent]"),
    ("list_of_ints_for_editable", GOOD_WS + "editable = [1, 2]\n", 3, "must be a list of strings"),
]


@pytest.mark.parametrize("name,text,line,fragment", CORPUS, ids=[c[0] for c in CORPUS])
def test_config_error_is_one_line_exit_2(tmp_path, capsys, name, text, line, fragment):
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(text)
    code = main(["run", "-c", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    prefix = f"conductor: {cfg}:{line}: " if line else f"conductor: {cfg}: "
    assert lines[0].startswith(prefix), lines[0]
    assert fragment in lines[0]
    assert not (tmp_path / ".conductor").exists(), "nothing may be written for a bad config"


def test_missing_config_file(tmp_path, capsys):
    assert main(["run", "-c", str(tmp_path / "nope.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_bad_workspace_toml_names_that_file(tmp_path, capsys):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "workspace.toml").write_text('run = "python t.py"\nmetric = "m"\ngaol = "min"\n')
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(f'[[workspace]]\npath = "{ws}"\n')
    assert main(["run", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"conductor: {ws / 'workspace.toml'}:3: unknown key 'gaol'")
    assert "did you mean 'goal'" in err


def test_no_traceback_from_a_real_process(tmp_path):
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(GOOD_WS + 'goal = "up"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == f"conductor: {cfg}:3: 'workspace.goal' must be \"min\" or \"max\", got 'up'"


def test_usage_errors_exit_2(capsys):
    assert main(["demo", "--max-experiments", "0", "--headless"]) == 2
    assert "--max-experiments must be positive" in capsys.readouterr().err


def test_good_config_resolves_defaults_and_replicas(tmp_path):
    from conductor.config import load_config

    cfg_path = tmp_path / "conductor.toml"
    cfg_path.write_text(GOOD_WS + 'name = "fast"\npanes = 3\nagent = { kind = "optuna" }\n')
    cfg = load_config(cfg_path)
    names = [p.name for p in cfg.panes]
    assert names == ["fast-1", "fast-2", "fast-3"]
    ws = cfg.workspaces[0]
    assert ws.metric == "score" and ws.goal == "min"  # from workspace.toml
    assert ws.editable == ("train.py",) and ws.protected == ("prepare.py",)
    assert [k.name for k in ws.knobs] == ["X", "Y"] and ws.knobs[0].file == "train.py"
    assert ws.agent.kind == "optuna"
    assert cfg.runs_dir == tmp_path / ".conductor"


def test_resolved_config_round_trips(tmp_path):
    from conductor.config import config_to_dict, load_config, write_resolved

    cfg_path = tmp_path / "conductor.toml"
    cfg_path.write_text('[agent]\nkind = "optuna"\n' + GOOD_WS + "panes = 2\nmin_delta = 0.5\nmax_experiments = 4\n")
    cfg = load_config(cfg_path)
    write_resolved(cfg, tmp_path / "saved.toml")
    again = load_config(tmp_path / "saved.toml")
    assert config_to_dict(again) == config_to_dict(cfg)
