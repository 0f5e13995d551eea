"""One standings computation: the same keep count in status, the leaderboard, the export and the
TUI, and each experiment credited to the program version it ran under.

Pane `p` (loss, min) ran program A, then the researcher edited program.md and it ran B:
    1 baseline 1.00 (A)  2 keep 0.90 (A)  3 discard 0.95 (A)  4 crash (A)
    5 rejected (B)       6 keep 0.85 (B)  7 discard 0.88 (B)  8 keep 0.70 (B)
so A is credited 0.10 and B 0.05 + 0.15 = 0.20, which add up to the pane's 0.30. Pane `q`
ran A only: baseline 2.0, keep 1.9 (0.10).
"""

from __future__ import annotations

import csv

import pytest

from conductor.core.events import ExperimentFinished, RunStarted
from conductor.core.ledger import Ledger, PaneRecord
from conductor.core.ledger_schema import program_sha
from conductor.core.record import ExperimentRecord
from conductor.core.standings import pane_standings
from conductor.export import export_records, write_export
from conductor.leaderboard import leaderboard_from_ledger
from conductor.status import pane_status
from conductor.ui.model import RunModel

T0 = 1_700_000_000.0
A = "# Program A\ntune the optimiser\n"
B = "# Program B\nchange the architecture\n"
ROWS = {
    "p": [
        ("keep", 1.00, A, True),
        ("keep", 0.90, A, False),
        ("discard", 0.95, A, False),
        ("crash", None, A, False),
        ("rejected", None, B, False),
        ("keep", 0.85, B, False),
        ("discard", 0.88, B, False),
        ("keep", 0.70, B, False),
    ],
    "q": [("keep", 2.0, A, True), ("keep", 1.9, A, False)],
}
# (pane, offset, usd): before p's 2nd finish -> A; between p's 5th and 6th -> B; after its last -> current (B)
USAGE = [("p", 150.0, 0.10), ("p", 580.0, 0.20), ("p", 5000.0, 0.40), ("q", 10.0, 0.05)]


def record(pane: str, seq: int, status: str, metric: float | None, program: str, base: bool) -> ExperimentRecord:
    start = T0 + 100 * seq
    ran = status != "rejected"
    return ExperimentRecord(
        pane=pane,
        seq=seq,
        commit=f"{pane}{seq}",
        status=status,
        metric=metric,
        started_at=start,
        finished_at=start + 50 if ran else start,
        slot="gpu0" if ran else "",
        is_baseline=base,
        program_sha=program_sha(program),
    )


def pane_record(name: str, position: int) -> PaneRecord:
    current = ROWS[name][-1][2]
    return PaneRecord(name, "ws", "optuna", "", "b", "w", "loss", "min", "c0", program_sha(current), T0, position)


@pytest.fixture
def ledger(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    ledger.set_meta("run", "r")
    for position, name in enumerate(ROWS):
        ledger.upsert_pane(pane_record(name, position))
        for seq, (status, metric, program, base) in enumerate(ROWS[name], 1):
            ledger.record_program(program)  # what the Pane does when its agent proposes an experiment
            ledger.record_experiment(record(name, seq, status, metric, program, base))
    for pane, offset, usd in USAGE:
        ledger.record_usage(pane, "m", input=100, output=10, usd=usd, ts=T0 + offset)
    yield ledger
    ledger.close()


def events(name: str) -> list[ExperimentFinished]:
    out = []
    for seq, (status, metric, _, base) in enumerate(ROWS[name], 1):
        out.append(
            ExperimentFinished(
                pane=name,
                seq=seq,
                commit=f"{name}{seq}",
                status=status,
                metric_name="loss",
                metric=metric,
                best=None,
                baseline=None,
                delta=None,
                description="",
                reason="",
                duration_s=50.0,
                is_baseline=base,
                ts=T0 + 100 * seq + 50,
            )
        )
    return out


def tui_model(ledger: Ledger | None) -> RunModel:
    model = RunModel(lambda: T0)
    panes = tuple({"name": n, "metric": "loss", "goal": "min"} for n in ROWS)
    model.apply(RunStarted(run="r", run_dir="/x", panes=panes, slots=("gpu0",), ts=T0))
    if ledger is not None:
        model.load_history(ledger.experiments())
    else:
        for name in ROWS:
            model.apply_all(events(name))
    return model


def test_the_baseline_is_no_keep_anywhere(ledger, tmp_path):
    status = pane_status(ledger)
    p = next(e for e in status["panes"] if e["name"] == "p")
    assert (p["experiments"], p["keep"], p["discard"], p["crash"], p["rejected"]) == (8, 3, 2, 1, 1)
    assert status["totals"]["keep"] == 4
    board = {s["pane"]: s for s in status["leaderboard"]["panes"]}
    assert board["p"]["keeps"] == 3 and board["p"]["tried"] == 7
    out = tmp_path / "runs.csv"
    write_export(export_records(ledger), out)
    rows = [r for r in csv.DictReader(out.open()) if r["record"] == "experiment" and r["pane"] == "p"]
    assert sum(r["status"] == "keep" and r["is_baseline"] == "0" for r in rows) == 3
    for model in (tui_model(ledger), tui_model(None)):  # history from the ledger, or live events
        assert model.panes["p"].counts == {"keep": 3, "discard": 2, "crash": 1, "rejected": 1, "interrupted": 0}
        assert model.panes["p"].experiments == 8 and model.total_keeps() == 4
    assert pane_standings(ledger.pane("p"), ledger.experiments("p"), []).total.keeps == 3


def test_each_experiment_counts_for_the_program_it_ran_under(ledger):
    board = leaderboard_from_ledger(ledger)
    by_sha = {p.program_sha: p for p in board.programs}
    a, b = by_sha[program_sha(A)], by_sha[program_sha(B)]
    assert [p.program_sha for p in board.programs] == [program_sha(B), program_sha(A)]  # B gained more
    assert (a.panes, a.experiments, a.tried, a.keeps, a.crashes) == (("p", "q"), 6, 4, 2, 1)
    assert (b.panes, b.experiments, b.tried, b.keeps, b.crashes) == (("p",), 4, 4, 2, 0)
    assert a.improvement == pytest.approx(0.10) and b.improvement == pytest.approx(0.20)
    assert a.program_title == "Program A" and b.program_title == "Program B"
    assert a.slot_hours == pytest.approx(6 * 50 / 3600) and b.slot_hours == pytest.approx(3 * 50 / 3600)
    assert a.usd == pytest.approx(0.15) and b.usd == pytest.approx(0.60)
    p = next(s for s in board.panes if s.pane == "p")
    assert p.improvement == pytest.approx(0.30) and p.programs == (program_sha(A), program_sha(B))


def test_the_export_names_each_rows_own_program_and_gain(ledger):
    records = list(export_records(ledger))
    rows = [r for r in records if r["record"] == "experiment" and r["pane"] == "p"]
    assert [r["program_sha"] for r in rows] == [program_sha(A)] * 4 + [program_sha(B)] * 4
    assert rows[0]["gain"] == 0.0 and rows[1]["gain"] == pytest.approx(0.10) and rows[3]["gain"] == 0.0
    for program, share in ((A, 0.10), (B, 0.20)):
        assert sum(r["gain"] for r in rows if r["program_sha"] == program_sha(program)) == pytest.approx(share)
    spent = [r["program_sha"] for r in records if r["record"] == "usage" and r["pane"] == "p"]
    assert spent == [program_sha(A), program_sha(B), program_sha(B)]


def test_shares_add_up_to_the_pane_and_nothing_is_credited_without_a_baseline(ledger):
    rows = ledger.experiments("p")
    s = pane_standings(ledger.pane("p"), rows, ledger.usage_rows("p"))
    assert sum(v.improvement for v in s.versions.values()) == pytest.approx(s.total.improvement)
    assert sum(v.experiments for v in s.versions.values()) == s.total.experiments
    assert s.total.usage.usd == pytest.approx(0.70)
    crashed = [ExperimentRecord(**{**r.__dict__, "status": "crash", "metric": None}) if r.seq == 1 else r for r in rows]
    s = pane_standings(ledger.pane("p"), crashed, [])
    assert s.total.baseline is None and s.total.improvement is None
    assert all(v.improvement is None for v in s.versions.values())


def test_the_report_marks_where_the_program_changed(ledger):
    from conductor.report_data import progress_series

    series = progress_series(ledger.experiments("p"), ledger.pane("p"))
    assert series.program_changes == [(5, program_sha(B))]
