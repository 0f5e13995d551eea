"""A resumed run takes additive changes to conductor.toml and refuses the others by key."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import write_config


def conductor(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "conductor", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_resume_adds_panes_limits_and_notify_and_refuses_a_new_metric(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, panes=2)
    assert conductor("run", "-c", str(cfg), "--max-experiments", "2", cwd=tmp_path).returncode == 0

    write_config(tmp_path, fastws, panes=3, extra="max_experiments = 3\n\n[notify]\nbell = false\n")
    again = conductor("run", "-c", str(cfg), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "differs" not in again.stderr
    status = json.loads(conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    counts = {p["name"]: p["experiments"] for p in status["panes"]}
    assert counts == {"fast-1": 3, "fast-2": 3, "fast-3": 3}
    saved = (tmp_path / ".conductor" / "conductor.toml").read_text()
    assert "max_experiments = 3" in saved and "panes = 3" in saved

    write_config(tmp_path, fastws, panes=3, extra='max_experiments = 3\nmetric = "loss"\n')
    refused = conductor("run", "-c", str(cfg), cwd=tmp_path)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "'workspace.fast.metric' changed ('score' -> 'loss')" in lines[0]
    assert lines[0].startswith(f"conductor: {cfg}")

    write_config(tmp_path, fastws, panes=2, extra="max_experiments = 4\n")  # fewer panes: none is taken away
    fewer = conductor("run", "-c", str(cfg), cwd=tmp_path)
    assert fewer.returncode == 0, fewer.stderr
    status = json.loads(conductor("status", "-c", str(cfg), "--json", cwd=tmp_path).stdout)
    assert {p["name"]: p["experiments"] for p in status["panes"]} == {"fast-1": 4, "fast-2": 4, "fast-3": 4}
