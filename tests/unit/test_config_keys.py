"""The key declarations: the saved config reads back as the same Config, and the example
config of `conductor init` documents every key and loads, as written and uncommented."""

import re
from dataclasses import replace
from pathlib import Path

import tomli_w

from conductor.cli import main
from conductor.config import (
    AgentConfig,
    Config,
    Price,
    WorkspaceConfig,
    config_to_dict,
    example_config,
    load_config,
    parse_config,
    write_resolved,
)
from conductor.config.schema import keys

FASTWS = Path(__file__).resolve().parents[1] / "fixtures" / "fastws"

RICH = f"""
[conductor]
runs_dir = "runs"
slots = [0, "GPU-1234"]
cpu_slots = 2
sandbox = "on"
max_usd = 50
max_tokens = 1000

[agent]
kind = "command"
command = "my-agent --fast"
args = ["--a", "--b"]
max_usd = 2.5
context_limit = 5000

[prices."m1"]
input = 1
output = 2

[prices."m2"]
input = 1.5
output = 3.0
cache_write = 0.0
cache_read = 0.01

[[workspace]]
name = "one"
path = "{FASTWS}"
panes = 2
experiments = "observed"
copy = "data.bin"
noise_runs = 2
verify = 1
sanity_gain = 0.5
plausible = [0, 100]
data = ["corpus", {{ path = "/var/cache/x", writable = true }}]
network = false
max_experiments = 7
max_hours = 1.5
target = -3
plateau = 4

[[workspace]]
name = "two"
path = "{FASTWS}"
time_budget_s = 5
agent = {{ kind = "optuna", model = "m2" }}
"""


def test_the_dump_parses_back_to_an_equal_config(tmp_path):
    cfg = parse_config(RICH, tmp_path / "conductor.toml")
    assert cfg.prices["m1"].cache_write == 1.25 and cfg.workspaces[1].knobs[0].file == "train.py"  # derived at load
    assert parse_config(tomli_w.dumps(config_to_dict(cfg)), cfg.source) == cfg
    write_resolved(cfg, tmp_path / "saved.toml")
    assert replace(load_config(tmp_path / "saved.toml"), source=cfg.source) == cfg


def test_the_keys_users_depend_on():
    assert list(keys(Config)) == [
        "runs_dir",
        "slots",
        "cpu_slots",
        "sandbox",
        "max_usd",
        "max_tokens",
        "secret_names",
        "ray_address",
        "ray_slot_kind",
        "ray_max_tree_mb",
    ]
    assert list(keys(AgentConfig)) == ["kind", "model", "command", "args", "max_usd", "max_tokens", "context_limit"]
    assert list(keys(Price)) == ["input", "output", "cache_write", "cache_read"]
    assert set(keys(WorkspaceConfig)) == {
        *("name", "path", "program", "run", "metric", "goal", "editable", "protected", "time_budget_s"),
        *("timeout_s", "panes", "agent", "experiments", "min_delta", "copy", "noise_runs", "noise_k", "verify"),
        *("sanity_gain", "plausible", "crash_limit", "max_experiments", "max_hours", "target", "plateau"),
        *("data", "network", "max_log_mb", "setup", "setup_timeout_s", "evolve_every"),
        *("share_study", "no_repeats", "migrate_after"),
    }


def test_the_example_documents_every_key_on_its_line():
    text = example_config()
    for cls in (Config, AgentConfig, Price, WorkspaceConfig):
        for name, key in keys(cls).items():
            assert key.doc and "\n" not in key.doc
            line = re.compile(rf"^(# )?{name} = .* # {re.escape(key.doc)}$", re.M)
            assert line.search(text), f"{cls.__name__}.{name} is not in the example with its doc"


def test_init_writes_the_example_and_it_loads(tmp_path, capsys):
    assert main(["init", str(tmp_path)]) == 0
    path = tmp_path / "conductor.toml"
    assert path.read_text(encoding="utf-8") == example_config()
    cfg = load_config(path)  # `workspaces/tinygpt` is the bundled workspace
    ws = cfg.workspaces[0]
    assert (ws.name, ws.path.name, ws.panes, ws.agent.kind, cfg.agent.kind) == (
        "tinygpt",
        "tinygpt",
        2,
        "optuna",
        "optuna",
    )
    assert cfg.prices["claude-sonnet-4-5"].cache_read == 0.3 and ws.max_experiments is None


def test_every_commented_example_is_a_valid_setting(tmp_path):
    uncommented = re.sub(r"^# (\w+ = )", r"\1", example_config(), flags=re.M)
    path = tmp_path / "conductor.toml"
    path.write_text(uncommented, encoding="utf-8")
    cfg = load_config(path)
    ws = cfg.workspaces[0]
    assert cfg.max_usd == 100.0 and cfg.agent.max_tokens == 5_000_000
    assert ws.copy == ("data/*.bin",) and ws.plausible == (0.5, 8.0) and ws.max_experiments == 100
