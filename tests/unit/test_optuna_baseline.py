"""The Optuna agent seeds its study with the baseline's result only at a pane's first start:
then the pane's files hold the baseline's settings. At a resume they hold its best, and the
seed used to pair those with the baseline's metric (and decode all the pane's rows to find it)."""

from __future__ import annotations

from types import SimpleNamespace

import optuna

from conductor.agents.optuna import OptunaAgent
from conductor.config import AgentConfig, Knob, WorkspaceConfig

KNOBS = (Knob(name="X", type="float", low=0.0, high=10.0, file="train.py"),)


def session(tmp_path, rows):
    (tmp_path / "train.py").write_text("X = 4.0\n")
    ws = WorkspaceConfig(name="w", path=".", run="x", metric="m", knobs=KNOBS)

    def whole_history():
        raise AssertionError("the whole history is not read")

    return SimpleNamespace(
        name="p",
        workspace=ws,
        worktree_path=tmp_path,
        recent_history=lambda n: rows[-n:],
        history=whole_history,
        slot_kind=lambda: "cpu",
    )


def row(is_baseline, metric):
    return SimpleNamespace(is_baseline=is_baseline, metric=metric, agent_ref="")


def test_the_first_start_seeds_the_baseline_and_a_resume_does_not(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    agent = OptunaAgent(AgentConfig(kind="optuna"))
    first = optuna.create_study()
    agent._seed_with_baseline(optuna, first, session(tmp_path, [row(True, 3.0)]))
    assert [(t.params, t.value) for t in first.trials] == [({"X": 4.0}, 3.0)]
    resumed = optuna.create_study()
    agent._seed_with_baseline(optuna, resumed, session(tmp_path, [row(True, 3.0), row(False, 2.0)]))
    assert resumed.trials == []
