"""The Optuna agent's trials: every one logged, a bounded window replayed.

A study reopened after thousands of trials replays only the latest RECENT and the best BEST,
numbers on from the log's last trial, finishes a trial a stop left open, and a study an
older conductor kept in Optuna's journal is converted once.
"""

from __future__ import annotations

import json

import optuna
import pytest

from conductor.agents import optuna_history
from conductor.agents.optuna_history import BEST, RECENT, LoggedTrial, TrialLog, tail_lines, windowed_study

optuna.logging.set_verbosity(optuna.logging.WARNING)
DISTS = {"x": optuna.distributions.FloatDistribution(-5.0, 5.0)}


@pytest.fixture(autouse=True)
def fresh_cache():
    optuna_history._OPEN.clear()
    yield
    optuna_history._OPEN.clear()


def open_study(folder):
    sampler = optuna.samplers.TPESampler(seed=1, n_startup_trials=2)
    return windowed_study(optuna, folder, "p", "minimize", sampler, DISTS)


def write_log(folder, count: int) -> None:
    lines = [LoggedTrial(n, {"x": (n % 97) / 10 - 4.8}, "complete", float(n % 97)).line() for n in range(count)]
    (folder / optuna_history.TRIALS_FILE).write_text("\n".join(lines) + "\n")


def test_a_long_history_replays_a_bounded_window_and_numbers_on(tmp_path):
    write_log(tmp_path, 5000)
    study = open_study(tmp_path)
    window = study._study.get_trials(deepcopy=False)
    assert len(window) <= RECENT + BEST
    assert len(study.trials) == 5000  # what the agent reports and seeds its sampler with
    best = sorted(t.value for t in window)[:BEST]
    assert best == sorted(float(n % 97) for n in range(5000))[:BEST]  # the best ever are in it
    trial = study.ask()
    trial.suggest_float("x", -5.0, 5.0)
    study.asked(trial)
    study.tell(trial.number, 0.5)
    assert trial.number == 5000
    last = json.loads(tail_lines(tmp_path / optuna_history.TRIALS_FILE, 1)[0])
    assert (last["n"], last["state"], last["value"]) == (5000, "complete", 0.5)
    assert json.loads((tmp_path / optuna_history.BEST_FILE).read_text())[0]["value"] == 0.0


def test_a_trial_a_stop_left_open_comes_back_running(tmp_path):
    study = open_study(tmp_path)
    trial = study.ask()
    trial.suggest_float("x", -5.0, 5.0)
    study.asked(trial)
    optuna_history._OPEN.clear()  # the process ends before the tell
    again = open_study(tmp_path)
    running = again.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert [t.number for t in running] == [0]
    again.tell(0, 1.25)
    assert again.get_trials(states=(optuna.trial.TrialState.RUNNING,)) == []
    assert again.ask().number == 1


def test_an_older_journal_is_converted_once(tmp_path):
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(tmp_path / optuna_history.JOURNAL_FILE)))
    old = optuna.create_study(study_name="p", storage=storage)
    for v in (3.0, 1.0, 2.0):
        old.enqueue_trial({"x": v})
        old.optimize(lambda t: t.suggest_float("x", -5.0, 5.0), n_trials=1)
    study = open_study(tmp_path)
    assert len(study.trials) == 3
    assert sorted(t.value for t in study.get_trials()) == [1.0, 2.0, 3.0]
    assert (tmp_path / optuna_history.TRIALS_FILE).is_file()


def test_a_cut_last_line_is_skipped(tmp_path):
    write_log(tmp_path, 10)
    with open(tmp_path / optuna_history.TRIALS_FILE, "a") as fh:
        fh.write('{"n": 10, "par')
    trials, next_number = TrialLog(tmp_path, "minimize").window()
    assert next_number == 10 and len(trials) == 10
    log = TrialLog(tmp_path, "minimize")
    log.append(LoggedTrial(10, {"x": 1.0}, "complete", 1.0))
    assert TrialLog(tmp_path, "minimize").window()[1] == 11
