"""Panes that follow different programs in one shared study keep it one search space: every
trial is suggested over the declared ranges, the narrowed pane draws inside its box and its
left-out knob is recorded at its file's value, so multivariate TPE still models every knob.
Suggesting the narrowed ranges themselves made Optuna drop those knobs from the joint model
for every pane, and a flipped log scale made the study refuse the suggestion."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
from optuna.search_space import IntersectionSearchSpace

from conductor.agents.optuna import _propose, _sampler
from conductor.agents.search_space import search_from
from conductor.config import Knob

DECLARED = (
    Knob(name="X", type="float", low=0.1, high=10.0, file="train.py"),
    Knob(name="Y", type="float", low=0.0, high=10.0, file="train.py"),
    Knob(name="N", type="int", low=1, high=64, log=True, file="train.py"),
)
NARROW = """
```toml conductor-search
n_startup_trials = 2
[knobs.X]
low = 1.0
high = 2.0
log = true
[knobs.N]
low = 4
high = 8
log = false
```
"""


def pane(tmp_path: Path, name: str) -> SimpleNamespace:
    worktree = tmp_path / name
    worktree.mkdir()
    (worktree / "train.py").write_text("X = 5.0\nY = 2.5\nN = 16\n")
    return SimpleNamespace(name=name, worktree_path=worktree)


def test_a_narrowed_pane_and_a_declared_pane_share_one_multivariate_space(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=_sampler(optuna, 7, n_startup_trials=2))
    narrow, wide = pane(tmp_path, "narrow"), pane(tmp_path, "wide")
    searches = {"narrow": search_from(NARROW, DECLARED), "wide": search_from("", DECLARED)}
    assert [k.name for k in searches["narrow"].knobs] == ["X", "N"]
    for i in range(12):
        session = narrow if i % 2 == 0 else wide
        trial, params = _propose(study, DECLARED, searches[session.name], session)
        if session is narrow:
            assert set(params) == {"X", "N"} and 1.0 <= params["X"] <= 2.0 and 4 <= params["N"] <= 8
            assert trial.params["Y"] == 2.5  # left out: recorded as the file has it, not written
        else:
            assert set(params) == {"X", "Y", "N"}
        study.tell(trial, sum(trial.params.values()))
    declared = {
        "X": optuna.distributions.FloatDistribution(0.1, 10.0),
        "Y": optuna.distributions.FloatDistribution(0.0, 10.0),
        "N": optuna.distributions.IntDistribution(1, 64, log=True),
    }
    assert all(t.distributions == declared for t in study.trials)
    assert set(IntersectionSearchSpace().calculate(study)) == {"X", "Y", "N"}


@pytest.mark.parametrize("startup", [0, 50])
def test_the_box_holds_after_the_startup_trials_and_during_them(tmp_path, startup):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=_sampler(optuna, 3, n_startup_trials=startup))
    session = pane(tmp_path, "p")
    search = search_from(NARROW, DECLARED)
    for _ in range(8):
        trial, params = _propose(study, DECLARED, search, session)
        assert 1.0 <= params["X"] <= 2.0 and 4 <= params["N"] <= 8 and trial.params["Y"] == 2.5
        study.tell(trial, params["X"])


def test_a_gp_pane_draws_inside_its_box_over_the_shared_declared_space(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=_sampler(optuna, 5, n_startup_trials=3))
    gp, tpe = pane(tmp_path, "gp"), pane(tmp_path, "tpe")
    searches = {"gp": search_from(NARROW.replace("n_startup_trials = 2", 'sampler = "gp"'), DECLARED)}
    searches["tpe"] = search_from("", DECLARED)
    assert searches["gp"].sampler == "gp" and "by a Gaussian process" in searches["gp"].describe()
    for i in range(10):
        session = gp if i % 2 == 0 else tpe
        trial, params = _propose(study, DECLARED, searches[session.name], session)
        if session is gp:
            assert 1.0 <= params["X"] <= 2.0 and 4 <= params["N"] <= 8 and trial.params["Y"] == 2.5
        study.tell(trial, (trial.params["X"] - 1.5) ** 2 + trial.params["Y"])
    assert study.sampler._gp is not None  # the GP side ran, once past the startup trials
    assert set(IntersectionSearchSpace().calculate(study)) == {"X", "Y", "N"}


def test_an_unknown_sampler_is_a_note_and_tpe():
    search = search_from(NARROW.replace("n_startup_trials = 2", 'sampler = "cma"'), DECLARED)
    assert search.sampler == "tpe" and any("'cma' is not one of tpe, gp" in n for n in search.notes)


def test_a_left_out_knob_the_file_holds_outside_its_range_is_not_recorded(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=_sampler(optuna, 1, n_startup_trials=2))
    session = pane(tmp_path, "p")
    (session.worktree_path / "train.py").write_text("X = 5.0\nY = 20.0\nN = 16\n")
    trial, params = _propose(study, DECLARED, search_from(NARROW, DECLARED), session)
    assert "Y" not in trial.params and set(params) == {"X", "N"}
