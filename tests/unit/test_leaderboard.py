"""The leaderboard's numbers, against values computed by hand from the recorded run (tests/recorded_ledger.py).

Every run there lasts 0.1 h and experiments start 0.1667 h apart, so slot-hours are 0.1 per
experiment that ran and a pane's wall span is (n - 1) * 600 s + 360 s.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from recorded_ledger import PANES, PROGRAMS, experiment_rows, pane_record, sha, usage_rows

from conductor.core.standings import pane_standings
from conductor.leaderboard import build_leaderboard, leaderboard_lines, program_title, score_pane


@pytest.fixture(scope="module")
def board():
    return build_leaderboard(
        [pane_standings(pane_record(p, i), experiment_rows(p), usage_rows(p)) for i, p in enumerate(PANES)],
        {sha(text): program_title(text) for text in PROGRAMS.values()},
    )


def pane(board, name):
    return next(p for p in board.panes if p.pane == name)


def test_pane_counts_exclude_the_baseline_from_keeps_and_tried(board):
    t1 = pane(board, "tiny-1")
    assert (t1.experiments, t1.tried, t1.keeps, t1.discards, t1.crashes, t1.rejected) == (8, 7, 2, 2, 2, 1)
    assert t1.keep_rate == pytest.approx(2 / 7)
    t3 = pane(board, "tiny-3")
    assert (t3.experiments, t3.tried, t3.keeps, t3.crashes) == (6, 5, 1, 2)


def test_pane_improvement_is_positive_when_better_for_either_goal(board):
    t1 = pane(board, "tiny-1")  # min: 1.000 -> 0.975
    assert (t1.baseline, t1.best) == (1.0, 0.975)
    assert t1.improvement == pytest.approx(0.025)
    assert t1.improvement_pct == pytest.approx(2.5)
    t2 = pane(board, "tiny-2")  # min: 1.002 -> 0.980
    assert t2.improvement_pct == pytest.approx(0.022 / 1.002 * 100)
    f1 = pane(board, "fast-1")  # max: 10 -> 12
    assert f1.improvement == pytest.approx(2.0)
    assert f1.improvement_pct == pytest.approx(20.0)


def test_pane_rates_per_hour_dollar_and_token(board):
    t1 = pane(board, "tiny-1")
    assert t1.slot_hours == pytest.approx(0.7)  # 7 of 8 ran; the rejected edit did not
    assert t1.slot_kind == "gpu"
    assert t1.wall_hours == pytest.approx(4560 / 3600)
    assert t1.experiments_per_hour == pytest.approx(8 / (4560 / 3600))
    assert t1.improvement_per_slot_hour == pytest.approx(0.025 / 0.7)
    assert t1.usd == pytest.approx(0.50)
    assert t1.improvement_per_usd == pytest.approx(0.05)
    assert t1.tokens == 14000
    assert t1.tokens_per_experiment == pytest.approx(2000)


def test_cpu_pane_without_cost_has_no_per_dollar_figure(board):
    f1 = pane(board, "fast-1")
    assert f1.slot_kind == "cpu"
    assert f1.slot_hours == pytest.approx(0.4)
    assert f1.improvement_per_slot_hour == pytest.approx(5.0)
    assert f1.usd == 0
    assert f1.improvement_per_usd is None
    assert f1.tokens_per_experiment is None  # optuna has no token stream: not measured, not 0


def test_programs_are_grouped_by_workspace_and_program_hash(board):
    keys = [(p.workspace, p.program_sha, p.rank, p.panes) for p in board.programs]
    assert keys == [
        ("tiny", sha(PROGRAMS["A"]), 1, ("tiny-1", "tiny-2")),
        ("tiny", sha(PROGRAMS["B"]), 2, ("tiny-3",)),
        ("fast", sha(PROGRAMS["C"]), 1, ("fast-1",)),
    ]
    assert board.programs[0].program_title == "Program A: tune the optimiser"


def test_program_group_pools_its_panes(board):
    a = board.programs[0]
    assert a.improvement == pytest.approx((0.025 + 0.022) / 2)
    assert a.best_improvement == pytest.approx(0.025)
    assert (a.experiments, a.tried, a.keeps, a.crashes) == (13, 11, 4, 2)
    assert a.keep_rate == pytest.approx(4 / 11)
    assert a.slot_hours == pytest.approx(1.2)
    assert a.improvement_per_slot_hour == pytest.approx(0.047 / 1.2)
    assert a.usd == pytest.approx(0.90)
    assert a.improvement_per_usd == pytest.approx(0.047 / 0.90)
    assert a.tokens_per_experiment == pytest.approx(22000 / 11)
    assert a.experiments_per_hour == pytest.approx(13 / ((4560 + 2760) / 3600))
    b = board.programs[1]
    assert b.improvement == pytest.approx(0.005)
    assert b.improvement_per_slot_hour == pytest.approx(0.005 / 0.6)
    assert b.improvement_per_usd == pytest.approx(0.005 / 0.25)
    assert b.tokens_per_experiment == pytest.approx(1000)


def test_as_dict_is_json_shaped(board):
    d = board.as_dict()
    assert [p["rank"] for p in d["programs"]] == [1, 2, 1]
    assert d["programs"][0]["panes"] == ["tiny-1", "tiny-2"]
    assert {p["pane"] for p in d["panes"]} == {"tiny-1", "tiny-2", "tiny-3", "fast-1"}
    assert "CPU" in d["notes"]["slot_hours"]


def test_text_lines_name_programs_and_say_cpu_slot_hours(board):
    lines = leaderboard_lines(board.as_dict())
    assert len(lines) == 2 + 3 + 1
    assert "Program A: tune the op" in lines[2] and " 0.0235 " in lines[2] and "$0.90" in lines[2]
    assert lines[2].split()[0] == "1" and lines[3].split()[0] == "2"
    assert " cpu " in lines[4] and " gpu " in lines[2]
    assert "CPU-slot-hours" in lines[-1]


def test_pane_with_no_experiments_scores_nothing():
    empty = score_pane(pane_standings(pane_record(PANES[0], 0), [], []))
    assert (empty.experiments, empty.tried, empty.keeps) == (0, 0, 0)
    assert empty.improvement is None and empty.keep_rate is None
    assert empty.experiments_per_hour is None and empty.improvement_per_slot_hour is None
    assert empty.tokens_per_experiment is None and empty.slot_kind == ""


def test_crashed_baseline_gives_no_improvement():
    rows = experiment_rows(PANES[0])
    rows[0] = replace(rows[0], status="crash", metric=None)
    score = score_pane(pane_standings(pane_record(PANES[0], 0), rows, []))
    assert score.baseline is None and score.improvement is None and score.improvement_per_slot_hour is None


def test_program_title_is_the_first_line_without_heading_marks():
    assert program_title("\n\n## Tune it\nbody") == "Tune it"
    assert program_title("") == "(empty program)"
