"""The tournament's verdicts on a real ledger: equal budgets, the held-out confirmation and
the champion, the original program never a candidate."""

from __future__ import annotations

from conductor.config import WorkspaceConfig
from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.record import ExperimentRecord
from conductor.evolve import _confirm, _standings, champion
from conductor.leaderboard import leaderboard_from_ledger, leaderboard_lines

WS = WorkspaceConfig(name="w", path=".", run="x", metric="m", min_delta=0.01)


def ledger_with(tmp_path, runs: dict[str, list[tuple[str, str, float]]]) -> Ledger:
    """runs: pane -> [(program sha, status, metric)], the first row the baseline."""
    ledger = Ledger(tmp_path / "ledger.db")
    for name, rows in runs.items():
        ledger.upsert_pane(PaneRecord(name, "w", "optuna", "", f"b/{name}", "/wt", "m", "min", "c0"))
        for seq, (sha, status, metric) in enumerate(rows, 1):
            ledger.record_experiment(
                ExperimentRecord(
                    pane=name,
                    seq=seq,
                    commit=f"{name}{seq}",
                    status=status,
                    metric=metric,
                    is_baseline=seq == 1,
                    program_sha=sha,
                )
            )
    return ledger


def test_budgets_must_be_equal_and_gains_within_min_delta_are_none(tmp_path):
    original = "o" * 12
    ledger = ledger_with(
        tmp_path,
        {
            "a": [
                (original, "keep", 5.0),
                (original, "keep", 4.0),
                (original, "discard", 4.5),
                (original, "keep", 3.0),
            ],
            "b": [(original, "keep", 5.0), (original, "keep", 4.995), (original, "discard", 6.0)],
        },
    )
    assert _standings(ledger, WS, 3, ["a", "b"]) == []  # b has run 2 under its program, a 3
    got = {s.pane: s.fitness for s in _standings(ledger, WS, 2, ["a", "b"])}
    assert got == {"a": 1.0, "b": 0.0}  # a: 4.0 -> 3.0; b: 5.0 -> 4.995 is within min_delta
    # b's program file now holds a variant it has not run: its rows are its parent's, not yet ready
    assert _standings(ledger, WS, 2, ["a", "b"], {"a": original, "b": "c" * 12}) == []
    assert len(_standings(ledger, WS, 2, ["a", "b"], {"a": original, "b": original})) == 2


def test_a_child_that_gains_on_the_held_out_pane_is_the_champion_and_the_original_never_is(tmp_path):
    ledger = ledger_with(tmp_path, {})
    original = ledger.record_program("# original\n")
    child = ledger.record_program("# child\n", parent=original, generation=1)
    ledger.close()
    ledger = ledger_with(
        tmp_path,
        {
            "h": [
                (original, "keep", 5.0),
                (original, "keep", 4.0),
                (original, "discard", 4.2),
                (original, "discard", 4.1),
            ]
        },
    )
    assert _confirm(ledger, WS, "h", 2, {}) == [] and champion(ledger, "w") == ""  # the original is the reference
    for seq, metric in ((5, 4.3), (6, 3.5)):
        ledger.record_experiment(
            ExperimentRecord(
                pane="h",
                seq=seq,
                commit=f"h{seq}",
                status="keep" if metric < 4 else "discard",
                metric=metric,
                program_sha=child,
            )
        )
    notes = _confirm(ledger, WS, "h", 2, {})
    assert notes and "confirmed on held-out pane h (+0.5)" in notes[0] and champion(ledger, "w") == child
    assert _confirm(ledger, WS, "h", 2, {}) == []  # said once
    board = leaderboard_from_ledger(ledger)
    assert [p.program_sha for p in board.programs if p.champion] == [child]
    assert "* g1<" in "\n".join(leaderboard_lines(board.as_dict()))
    ledger.close()
