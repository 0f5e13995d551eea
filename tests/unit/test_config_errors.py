"""Malformed configs: each ends as exit 2 and one line `conductor: FILE:LINE: what is wrong`."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import GIT_ENV

from conductor.cli import main
from conductor.config import load_config
from conductor.errors import ConductorError

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
    # blank strings where a command, a name or a path is needed
    ("empty_metric", GOOD_WS + 'metric = ""\n', 3, "'workspace.metric' must be a non-empty string, got ''"),
    ("blank_run", GOOD_WS + 'run = "  "\n', 3, "'workspace.run' must be a non-empty string, got '  '"),
    ("empty_program", GOOD_WS + 'program = ""\n', 3, "'workspace.program' must be a non-empty string"),
    ("empty_path", '[[workspace]]\npath = ""\n', 2, "'workspace.path' must be a non-empty string"),
    ("empty_runs_dir", '[conductor]\nruns_dir = ""\n' + GOOD_WS, 2, "'conductor.runs_dir' must be a non-empty"),
    ("empty_model", '[agent]\nmodel = " "\n' + GOOD_WS, 2, "'agent.model' must be a non-empty string"),
    ("empty_editable_entry", GOOD_WS + 'editable = ["train.py", ""]\n', 3, "a list of file names, none empty"),
    (
        "command_agent_without_command",
        GOOD_WS + 'agent = { kind = "command", command = " " }\n',
        3,
        'agent kind "command" needs a command',
    ),
    # counts that would only eat memory, integers TOML cannot hold
    ("too_many_panes", GOOD_WS + "panes = 99999999999999999999\n", 3, "'workspace.panes' must be at most 256"),
    ("too_many_panes_in_all", GOOD_WS + "panes = 200\n" + GOOD_WS + 'name = "b"\npanes = 57\n', 7, "257 panes in all"),
    (
        "too_many_cpu_slots",
        "[conductor]\ncpu_slots = 100000\n" + GOOD_WS,
        2,
        "'conductor.cpu_slots' must be at most 256",
    ),
    ("int_overflow", GOOD_WS + "max_experiments = 99999999999999999999\n", 3, "must be a 64-bit integer"),
    # nan and inf, which TOML allows, for every number key
    ("nan_budget", GOOD_WS + "time_budget_s = nan\n", 3, "'workspace.time_budget_s' must be a finite number, got nan"),
    ("inf_timeout", GOOD_WS + "timeout_s = inf\n", 3, "'workspace.timeout_s' must be a finite number, got inf"),
    ("nan_min_delta", GOOD_WS + "min_delta = nan\n", 3, "'workspace.min_delta' must be a finite number"),
    ("inf_noise_k", GOOD_WS + "noise_k = inf\n", 3, "'workspace.noise_k' must be a finite number"),
    ("nan_sanity_gain", GOOD_WS + "sanity_gain = nan\n", 3, "'workspace.sanity_gain' must be a finite number"),
    ("inf_target", GOOD_WS + "target = -inf\n", 3, "'workspace.target' must be a finite number, got -inf"),
    ("inf_max_hours", GOOD_WS + "max_hours = inf\n", 3, "'workspace.max_hours' must be a finite number"),
    ("nan_plausible", GOOD_WS + "plausible = [0.5, inf]\n", 3, "must be [low, high] of finite numbers"),
    ("huge_plausible", GOOD_WS + "plausible = [0, 99999999999999999999]\n", 3, "[low, high] of finite numbers"),
    ("huge_target", GOOD_WS + "target = 99999999999999999999\n", 3, "'workspace.target' must be a 64-bit number"),
    ("nan_agent_max_usd", "[agent]\nmax_usd = nan\n" + GOOD_WS, 2, "'agent.max_usd' must be a finite number"),
    ("inf_total_max_usd", "[conductor]\nmax_usd = inf\n" + GOOD_WS, 2, "'conductor.max_usd' must be a finite"),
    ("nan_price", '[prices."m"]\ninput = 1\noutput = nan\n' + GOOD_WS, 3, "'prices.m.output' must be a finite"),
    # editable, protected and program name files of the workspace
    ("editable_star", GOOD_WS + 'editable = ["*"]\n', 3, "editable '*' also matches the protected file 'prepare.py'"),
    ("editable_glob_matches_nothing", GOOD_WS + 'editable = ["*.rs"]\n', 3, "editable '*.rs' matches no file"),
    ("editable_parent", GOOD_WS + 'editable = ["../fastws/train.py"]\n', 3, "is outside the workspace"),
    ("editable_absolute", GOOD_WS + 'editable = ["/etc/passwd"]\n', 3, "editable '/etc/passwd' is outside"),
    ("editable_missing", GOOD_WS + 'editable = ["model.py"]\n', 3, "editable file 'model.py' does not exist"),
    (
        "editable_dot_slash",
        GOOD_WS + 'editable = ["./train.py"]\n',
        3,
        "editable './train.py' must be written 'train.py'",
    ),
    ("editable_trailing_slash", GOOD_WS + 'editable = ["train.py/"]\n', 3, "editable 'train.py/' must be written"),
    ("protected_missing", GOOD_WS + 'protected = ["data.py"]\n', 3, "protected file 'data.py' does not exist"),
    ("protected_pattern", GOOD_WS + 'protected = ["prep*.py"]\n', 3, "protected 'prep*.py' must name a file"),
    ("protected_outside", GOOD_WS + 'protected = ["/etc/hosts"]\n', 3, "protected '/etc/hosts' is outside"),
    ("copy_outside", GOOD_WS + 'copy = ["../*"]\n', 3, "copy '../*' is outside the workspace"),
    (
        "program_missing",
        GOOD_WS + 'program = "x.md"\nagent = { kind = "claude-code" }\n',
        3,
        f"program file 'x.md' not found in {FASTWS}",
    ),
    ("program_outside", GOOD_WS + 'program = "/etc/hosts"\n', 3, "program '/etc/hosts' is outside the workspace"),
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


def copy_of_fastws(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(FASTWS, ws, ignore=shutil.ignore_patterns("__pycache__"))
    return ws


def config_error(tmp_path: Path, ws: Path, extra: str = "") -> str:
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(f'[[workspace]]\npath = "{ws}"\nagent = {{ kind = "optuna" }}\n{extra}')
    with pytest.raises(ConductorError) as err:
        load_config(cfg)
    return str(err.value)


def test_a_missing_file_set_in_workspace_toml_names_that_line(tmp_path):
    ws = copy_of_fastws(tmp_path)
    (ws / "train.py").unlink()
    assert config_error(tmp_path, ws).startswith(
        f"{ws / 'workspace.toml'}:4: editable file 'train.py' does not exist in the workspace {ws}"
    )


def test_editable_folder_and_patterns(tmp_path):
    ws = copy_of_fastws(tmp_path)
    (ws / "src").mkdir()
    (ws / "src" / "model.py").write_text("")
    assert "editable 'src' is a folder: list its files, or 'src/*'" in config_error(
        tmp_path, ws, 'editable = ["src"]\n'
    )
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(f'[[workspace]]\npath = "{ws}"\neditable = ["train.py", "src/*.py"]\n')
    assert load_config(cfg).workspaces[0].editable == ("train.py", "src/*.py")


def test_knob_files(tmp_path):
    ws = copy_of_fastws(tmp_path)
    assert "knob 'X' needs 'file': every editable entry is a pattern" in config_error(
        tmp_path, ws, 'editable = ["train*"]\n'
    )
    text = (ws / "workspace.toml").read_text()
    (ws / "workspace.toml").write_text(text.replace('name = "X"', 'name = "X"\nfile = "prepare.py"'))
    assert config_error(tmp_path, ws).startswith(
        f"{ws / 'workspace.toml'}:11: knob 'X': its file 'prepare.py' is not editable"
    )


def test_a_git_workspace_counts_files_in_head_and_on_disk(tmp_path):
    ws = copy_of_fastws(tmp_path)
    env = {**os.environ, **GIT_ENV}
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=ws, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=ws, check=True, env=env)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=ws, check=True, env=env)
    (ws / "prepare.py").unlink()  # deleted on disk, still in HEAD: panes branch from HEAD
    (ws / "notes.md").write_text("")  # only on disk
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(f'[[workspace]]\npath = "{ws}"\nagent = {{ kind = "optuna" }}\neditable = ["train.py", "*.md"]\n')
    assert load_config(cfg).workspaces[0].protected == ("prepare.py",)
    assert "protected file 'gone.py' does not exist" in config_error(tmp_path, ws, 'protected = ["gone.py"]\n')


def test_bundled_tinygpt_loads(tmp_path):
    cfg = tmp_path / "conductor.toml"
    cfg.write_text('[[workspace]]\npath = "workspaces/tinygpt"\nagent = { kind = "claude-code" }\n')
    ws = load_config(cfg).workspaces[0]
    assert ws.editable == ("train.py",) and ws.knobs[0].file == "train.py"
