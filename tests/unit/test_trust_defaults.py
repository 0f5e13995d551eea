"""The cheap trust is on from the start: the demo and `conductor init`'s config get a noise
floor and verified keeps sized to the budget; a config that names neither keeps them off."""

from __future__ import annotations

import argparse

from conductor.cli import demo_config
from conductor.config import example_config, parse_config
from conductor.config.trust_defaults import trust_for


def demo(tmp_path, budget=None):
    args = argparse.Namespace(runs_dir=str(tmp_path / "runs"), agent="optuna", budget=budget, panes=2)
    return demo_config(args).workspaces[0]


def test_the_demo_measures_its_noise_and_verifies_its_keeps(tmp_path):
    ws = demo(tmp_path)
    assert (ws.time_budget_s, ws.noise_runs, ws.verify) == (20, 3, 2)
    ws = demo(tmp_path, budget=300)
    assert (ws.time_budget_s, ws.noise_runs, ws.verify) == (300, 3, 1)


def test_a_new_config_has_them_on_and_an_old_one_keeps_them_off(tmp_path, fastws):
    text = example_config()
    assert "\nnoise_runs = 3 " in text and "\nverify = 2 " in text and "\ntime_budget_s = 20 " in text
    old = parse_config(f'[[workspace]]\npath = "{fastws}"\n', tmp_path / "c.toml").workspaces[0]
    assert (old.noise_runs, old.verify) == (0, 0)


def test_the_sizes_follow_the_budget():
    assert [trust_for(b) for b in (20, 60, 300, 600, 1800)] == [
        {"noise_runs": 3, "verify": 2},
        {"noise_runs": 3, "verify": 2},
        {"noise_runs": 3, "verify": 1},
        {"noise_runs": 3, "verify": 1},
        {"noise_runs": 2, "verify": 1},
    ]
