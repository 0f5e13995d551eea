"""The bundled tinygpt declares its GPU scale in workspace.toml: the GPU knobs are read, each
names a constant of train.py, and the optuna agent tunes the knobs of its slots' kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from conductor.agents.optuna import knobs_for, read_knob
from conductor.config import bundled_workspaces_dir, parse_config
from conductor.errors import ConductorError


def tinygpt(tmp_path: Path):
    text = '[agent]\nkind = "optuna"\n\n[[workspace]]\npath = "workspaces/tinygpt"\n'
    return parse_config(text, tmp_path / "conductor.toml").workspaces[0]


def test_the_gpu_scale_is_declared_and_read(tmp_path):
    ws = tinygpt(tmp_path)
    slots = {k.name: k.slot for k in ws.knobs}
    assert {n for n, s in slots.items() if s == "gpu"} == {"GPU_DEPTH", "GPU_WIDTH", "GPU_BATCH_SIZE"}
    assert {n for n, s in slots.items() if s == "cpu"} == {"DEPTH", "WIDTH", "BATCH_SIZE"}
    train = (bundled_workspaces_dir() / "tinygpt" / "train.py").read_text()
    for k in ws.knobs:
        value = read_knob(train, k.name)
        assert isinstance(value, int | float) and k.low <= value <= k.high, k.name
    assert 'if device.type == "cuda":\n    DEPTH, WIDTH, BATCH_SIZE = GPU_DEPTH, GPU_WIDTH, GPU_BATCH_SIZE' in train
    gpu = {k.name for k in knobs_for(ws.knobs, "gpu")}
    cpu = {k.name for k in knobs_for(ws.knobs, "cpu")}
    assert "GPU_WIDTH" in gpu and "WIDTH" not in gpu and "LEARNING_RATE" in gpu
    assert "WIDTH" in cpu and "GPU_WIDTH" not in cpu and "LEARNING_RATE" in cpu
    assert len(knobs_for(ws.knobs, "any")) == len(ws.knobs)


def test_a_knob_slot_is_checked_at_its_line(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "train.py").write_text("X = 1.0\n")
    (ws / "workspace.toml").write_text(
        'run = "python train.py"\nmetric = "m"\neditable = ["train.py"]\n\n'
        '[[knob]]\nname = "X"\ntype = "float"\nlow = 0\nhigh = 2\nslot = "tpu"\n'
    )
    with pytest.raises(ConductorError, match=r"workspace.toml:10: 'knob.slot' must be \"any\" or \"cpu\" or \"gpu\""):
        parse_config(f'[agent]\nkind = "optuna"\n\n[[workspace]]\npath = "{ws}"\n', tmp_path / "c.toml")
