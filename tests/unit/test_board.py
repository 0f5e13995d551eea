"""The workspace board: description similarity, repeat detection, claims, the prompt's board
section within its budget, and a pane's best after a move onto a sibling's."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from conductor.agents.prompts import board_section, cli_results
from conductor.core.board import Board, Migration
from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.reconcile import best_so_far
from conductor.core.record import ExperimentRecord, Status
from conductor.core.similarity import NEAR_REPEAT, features, similarity


@pytest.mark.parametrize(
    "a, b",
    [
        ("halve the learning rate", "halved the learning rate"),
        ("halve the learning rate", "Halve the learning-rate"),
        ("lr 0.001", "LR 1e-3"),
        ("depth 4, width 128", "width 128 and depth 4"),
        ("learning rate 3e-3, warmup 10%", "learning rate 3e-3 with 10% warmup"),
    ],
)
def test_rewordings_are_near_repeats(a, b):
    assert similarity(a, b) >= NEAR_REPEAT


@pytest.mark.parametrize(
    "a, b",
    [
        ("halve the learning rate", "double the learning rate"),
        ("increase depth to 4", "increase depth to 6"),
        ("lr 0.001", "lr 0.002"),
        ("add weight decay 0.1", "add dropout 0.1"),
        ("use swiglu activation", "use gelu activation"),
    ],
)
def test_different_ideas_are_not(a, b):
    assert similarity(a, b) < NEAR_REPEAT


def test_similarity_edges():
    assert similarity("", "anything") == 0.0
    assert similarity("the a to", "the") == 0.0  # stop words only: no features
    assert similarity("Swap GELU", "swap gelu") == pytest.approx(1.0)
    assert features("x 1e-3")["#0.001"] == 4


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    for name, ws in (("a", "ws"), ("b", "ws"), ("other", "elsewhere")):
        ledger.upsert_pane(PaneRecord(name, ws, "optuna", "", f"br-{name}", "w", "loss", "min", "c0"))
    yield ledger
    ledger.close()


def _row(ledger, pane, seq, status, metric, description, key, previous_best=None, baseline=False):
    ledger.record_experiment(
        ExperimentRecord(
            pane=pane,
            seq=seq,
            commit=f"{pane}{seq}",
            status=status,
            metric=metric,
            description=description,
            change=f"X={seq}",
            change_key=key,
            is_baseline=baseline,
        ),
        previous_best,
    )


def test_an_identical_tree_is_an_exact_repeat_with_the_earlier_outcome(ledger):
    _row(ledger, "a", 1, Status.KEEP, 3.0, "baseline", "t0", baseline=True)
    _row(ledger, "a", 2, Status.DISCARD, 3.5, "halve the lr", "t1", 3.0)
    _row(ledger, "a", 3, Status.REJECTED, None, "touch prepare.py", "t2", 3.0)
    _row(ledger, "other", 1, Status.KEEP, 1.0, "double the width", "t3")
    board = Board(ledger, "ws")
    repeat = board.find_repeat("b", "t1", "something worded otherwise")
    assert (repeat.kind, repeat.pane, repeat.seq, repeat.status, repeat.metric) == ("exact", "a", 2, "discard", 3.5)
    assert repeat.refused and "a #2" in repeat.text("loss") and "3.500000" in repeat.text("loss")
    assert board.find_repeat("a", "t1", "x").kind == "exact"  # a pane's own earlier try counts too
    assert board.find_repeat("b", "t2", "a fresh idea") is None  # a rejected change never ran
    assert board.find_repeat("b", "t3", "a fresh idea") is None  # another workspace's board
    assert board.find_repeat("b", "t0", "x").kind == "exact"  # the unchanged code is the baseline
    assert [(e.pane, e.seq, e.delta) for e in board.entries()] == [
        ("a", 1, None),
        ("a", 2, 0.5),
        ("a", 3, None),
    ]


def test_claims_show_what_runs_and_refuse_the_same_change(ledger):
    board = Board(ledger, "ws")
    board.claim("a", "t9", "swap in rmsnorm")
    assert [(c.pane, c.description) for c in board.claims()] == [("a", "swap in rmsnorm")]
    assert board.find_repeat("a", "t9", "swap in rmsnorm") is None  # its own claim
    flight = board.find_repeat("b", "t9", "anything")
    assert flight.kind == "in flight" and flight.refused and "a is running now" in flight.text("loss")
    near = board.find_repeat("b", "t8", "swap to RMSNorm")
    assert near.kind == "near" and not near.refused and near.pane == "a"
    board.release("a")
    assert board.claims() == [] and board.find_repeat("b", "t9", "anything") is None


def test_a_near_repeat_is_flagged_with_what_it_gave(ledger):
    _row(ledger, "a", 1, Status.DISCARD, 3.5, "halve the learning rate", "t1")
    _row(ledger, "a", 2, Status.INTERRUPTED, None, "double the depth", "t2")
    board = Board(ledger, "ws")
    near = board.find_repeat("b", "t5", "halved the learning rate")
    assert (near.kind, near.seq, near.status) == ("near", 1, "discard") and near.similarity >= NEAR_REPEAT
    assert "near repeat" in near.text("loss") and "3.500000" in near.text("loss")
    assert board.find_repeat("b", "t6", "doubled the depth") is None  # an interrupted run gave nothing
    assert board.find_repeat("b", "t7", "add dropout") is None


def test_the_board_section_marks_panes_and_keeps_to_its_budget(ledger):
    _row(ledger, "a", 1, Status.KEEP, 3.0, "baseline", "t0", baseline=True)
    for seq in range(2, 202):
        _row(
            ledger, "b", seq, Status.DISCARD, 4.0 + seq, f"idea number {seq} " + "with many words " * 20, f"k{seq}", 3.0
        )
    _row(ledger, "b", 202, Status.KEEP, 2.5, "the win", "kw", 3.0)
    board = Board(ledger, "ws")
    board.claim("b", "kx", "running idea")
    session = SimpleNamespace(
        name="a", workspace=SimpleNamespace(name="ws", metric="loss", goal="min"), board=lambda: board.view("min")
    )
    text = board_section(session, budget=1500)
    assert len(text) <= 1500
    assert "you are a" in text and "  b: 2.500000 (#202) the win" in text and "  a: 3.000000 (#1) baseline" in text
    assert "Running now in other panes:\n  b: running idea" in text
    assert "b #202 | keep | 2.500000 | -0.500000 | the win | X=202" in text  # the newest entry, with its delta
    assert "idea number 2 " not in text  # the oldest fell out of the budget
    assert len(board_section(session)) <= 3000
    session.history = lambda: ledger.experiments("a")
    session.best = 3.0
    preface = cli_results(session)  # a CLI agent's results: its own table, then the board
    assert preface.startswith("Results so far:\nseq | status | loss") and "\n\nWorkspace board:" in preface
    alone = SimpleNamespace(name="b", workspace=session.workspace, board=lambda: Board(ledger, "elsewhere").view("min"))
    assert board_section(alone) == ""  # nobody else on the workspace yet


def test_a_move_onto_a_siblings_best_is_the_best_until_the_next_keep():
    rows = [
        ExperimentRecord(pane="a", seq=1, commit="c1", status=Status.KEEP, metric=3.0, is_baseline=True),
        ExperimentRecord(pane="a", seq=2, commit="c2", status=Status.DISCARD, metric=3.5),
        ExperimentRecord(pane="a", seq=3, commit="c3", status=Status.DISCARD, metric=3.4),
    ]
    move = Migration("a", 0.0, 2, "c1", "b7", "b", 7, 3.0, 2.0)
    found = best_so_far(rows, "c0", [move])
    assert (found.best, found.best_commit, found.baseline) == (2.0, "b7", 3.0)
    later_keep = [*rows, ExperimentRecord(pane="a", seq=4, commit="c4", status=Status.KEEP, metric=1.5)]
    assert best_so_far(later_keep, "c0", [move]).best_commit == "c4"
    assert best_so_far(rows, "c0").best_commit == "c1"
