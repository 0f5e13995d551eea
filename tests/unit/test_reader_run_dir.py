"""The readers' run dir (status, report, export) read from the config with tomllib alone is
the one the whole config loader gives, wherever `runs_dir` points; without a run there, or
with a config the light read cannot take, the loader answers, with its errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from conductor.cli import DEFAULT_RUNS_DIR, _parser, _run_to_read
from conductor.config import example_config, load_config
from conductor.config.schema import Config
from conductor.errors import ConductorError


def test_the_default_is_the_schemas():
    assert Path(DEFAULT_RUNS_DIR) == Config.runs_dir


@pytest.mark.parametrize("runs_dir", [None, "runs", "../elsewhere/run", "~/conductor-test-runs-dir"])
def test_the_light_read_gives_the_loaders_run_dir(tmp_path, monkeypatch, runs_dir):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = tmp_path / "cfg" / "conductor.toml"
    cfg.parent.mkdir()
    text = example_config()
    if runs_dir is not None:
        text = text.replace('runs_dir = ".conductor"', f'runs_dir = "{runs_dir}"', 1)
        assert f'runs_dir = "{runs_dir}"' in text
    cfg.write_text(text)
    expected = load_config(cfg).runs_dir
    expected.mkdir(parents=True)
    sqlite3.connect(expected / "ledger.db").close()
    args = _parser().parse_args(["status", "-c", str(cfg)])
    assert _run_to_read(args) == expected


def test_without_a_run_the_loader_answers(tmp_path):
    cfg = tmp_path / "conductor.toml"
    cfg.write_text("[conductor]\nruns_dir = 3\n")
    args = _parser().parse_args(["status", "-c", str(cfg)])
    with pytest.raises(ConductorError):
        _run_to_read(args)
