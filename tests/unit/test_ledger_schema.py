"""The ledger's schema version: program versions per experiment, and a version-1 run dir
(program per pane) read as it is by readers and migrated when a writable Ledger opens it."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3

import pytest

from conductor.core.ledger import Ledger
from conductor.core.ledger_schema import SCHEMA, SCHEMA_VERSION
from conductor.core.record import ExperimentRecord
from conductor.core.rundir import RunDir
from conductor.errors import ConductorError

OLD = "# old program\nkeep it small\n"
EDITED = "# edited program\n"
KEPT = "# kept program\n"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def v2_schema() -> str:
    """The layout a version-2 conductor wrote: no board columns, view, claims or migrations."""
    schema = SCHEMA.replace(
        "    change TEXT NOT NULL DEFAULT '',\n    change_key TEXT NOT NULL DEFAULT '',\n    previous_best REAL,\n"
        "    cpu_share REAL,\n    starved INTEGER NOT NULL DEFAULT 0,\n",
        "",
    )
    start = schema.index("CREATE TABLE IF NOT EXISTS claims")
    schema = schema[:start] + schema[schema.index("CREATE TABLE IF NOT EXISTS samples") :]
    assert "change" not in schema and "board" not in schema and "starved" not in schema
    return schema


def v1_schema() -> str:
    """The layout a version-1 conductor wrote: no programs table, no experiments.program_sha."""
    schema = v2_schema().replace(
        "    program_sha TEXT NOT NULL DEFAULT '',\n    UNIQUE (pane, seq)", "    UNIQUE (pane, seq)"
    )
    start = schema.index("CREATE TABLE IF NOT EXISTS programs")
    schema = schema[:start] + schema[schema.index("CREATE TABLE IF NOT EXISTS usage") :]
    assert "programs" not in schema and schema.count("program_sha") == 1  # panes.program_sha only
    return schema


@pytest.fixture
def v1_run(tmp_path):
    """Pane `edited` ran OLD, then its program file was edited (and the pane never re-recorded);
    pane `kept` still has the program it ran."""
    run = RunDir(tmp_path)
    run.program("edited").parent.mkdir(parents=True)
    run.program("edited").write_text(EDITED)
    run.program("kept").write_text(KEPT)
    with contextlib.closing(sqlite3.connect(run.ledger)) as db:
        db.executescript(v1_schema())
        db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
        for position, (name, text) in enumerate((("edited", OLD), ("kept", KEPT))):
            db.execute(
                "INSERT INTO panes (name, workspace, agent, branch, worktree, metric, goal, base_commit, program_sha,"
                " created_at, position) VALUES (?, 'ws', 'optuna', 'b', 'w', 'loss', 'min', 'c0', ?, 0, ?)",
                (name, sha(text), position),
            )
            for seq in (1, 2):
                db.execute(
                    "INSERT INTO experiments (pane, seq, commit_sha, status, metric, started_at, finished_at,"
                    " is_baseline) VALUES (?, ?, ?, 'keep', ?, 0, 1, ?)",
                    (name, seq, f"{name}{seq}", 1.0 / seq, int(seq == 1)),
                )
        db.commit()
    return run


def test_a_reader_reads_a_version_1_file_as_it_is(v1_run):
    ledger = Ledger.reader(v1_run.root)
    try:
        assert ledger.schema_version == 1
        assert {r.pane: r.program_sha for r in ledger.experiments()} == {"edited": sha(OLD), "kept": sha(KEPT)}
        programs = {p.sha: p for p in ledger.programs()}
        assert programs[sha(KEPT)].text == KEPT and programs[sha(KEPT)].text_known
        assert programs[sha(OLD)].text == "" and not programs[sha(OLD)].text_known
    finally:
        ledger.close()
    with contextlib.closing(sqlite3.connect(v1_run.ledger)) as db:  # nothing written
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("1",)


def test_a_writable_ledger_migrates_old_rows_to_their_panes_program(v1_run):
    ledger = Ledger(v1_run.ledger)
    try:
        assert ledger.schema_version == SCHEMA_VERSION == 4
        assert [(r.pane, r.seq, r.program_sha) for r in ledger.experiments()] == [
            ("edited", 1, sha(OLD)),
            ("edited", 2, sha(OLD)),
            ("kept", 1, sha(KEPT)),
            ("kept", 2, sha(KEPT)),
        ]
        assert ledger.program(sha(KEPT)).text == KEPT
        lost = ledger.program(sha(OLD))
        assert (lost.text, lost.text_known, lost.parent, lost.generation) == ("", False, "", 0)
        assert ledger.record_program(OLD) == sha(OLD)  # the text, seen again, fills the gap
        assert ledger.program(sha(OLD)).text == OLD and ledger.program(sha(OLD)).text_known
        assert ledger.record_program(EDITED) == sha(EDITED)
        ledger.record_experiment(
            ExperimentRecord(
                pane="edited",
                seq=3,
                commit="e3",
                status="discard",
                metric=2.0,
                program_sha=sha(EDITED),
                cpu_share=0.25,
                starved=True,
            )
        )
        rows = ledger.experiments("edited")
        assert rows[-1].program_sha == sha(EDITED) and (rows[-1].cpu_share, rows[-1].starved) == (0.25, True)
        assert all((r.cpu_share, r.starved) == (None, False) for r in rows[:-1])  # nothing was measured then
    finally:
        ledger.close()
    again = Ledger(v1_run.ledger)  # opening twice migrates once
    assert again.schema_version == 4 and len(again.programs()) == 3
    again.close()


def test_programs_are_stored_once_per_content(tmp_path):
    ledger = Ledger(tmp_path / "ledger.db")
    assert ledger.schema_version == SCHEMA_VERSION
    first = ledger.record_program(OLD)
    assert first == hashlib.sha256(OLD.encode()).hexdigest()[:12]
    assert ledger.record_program(OLD) == first
    ledger.record_program(EDITED, parent=first, generation=1)
    assert [(p.sha, p.parent, p.generation) for p in ledger.programs()] == [(first, "", 0), (sha(EDITED), first, 1)]
    assert ledger.program("nope") is None
    ledger.close()


def test_readers_get_a_one_line_error_without_a_run(tmp_path):
    with pytest.raises(ConductorError, match="no run found"):
        Ledger.reader(tmp_path / "nothing")
    (tmp_path / "ledger.db").write_bytes(b"")
    with pytest.raises(ConductorError, match="no run recorded"):
        Ledger.reader(tmp_path)


def test_a_newer_file_is_refused(tmp_path):
    Ledger(tmp_path / "ledger.db").set_meta("schema_version", str(SCHEMA_VERSION + 1))
    with pytest.raises(ConductorError, match=f"newer conductor \\(schema version {SCHEMA_VERSION + 1}"):
        Ledger(tmp_path / "ledger.db")


def test_readers_of_a_version_1_file_credit_each_pane_its_program(v1_run):
    from conductor.export import export_records
    from conductor.status import pane_status

    ledger = Ledger.reader(v1_run.root)
    try:
        status = pane_status(ledger)
        titles = {p["program_sha"]: p["program_title"] for p in status["leaderboard"]["programs"]}
        assert titles == {sha(OLD): "(program text not recorded)", sha(KEPT): "kept program"}
        assert [p["keep"] for p in status["panes"]] == [1, 1]
        exported = {(r["pane"], r["program_sha"]) for r in export_records(ledger) if r["record"] == "experiment"}
        assert exported == {("edited", sha(OLD)), ("kept", sha(KEPT))}
    finally:
        ledger.close()


def test_a_version_2_file_gets_the_board_and_each_rows_previous_best(tmp_path):
    from conductor.core.board import Board

    run = RunDir(tmp_path)
    with contextlib.closing(sqlite3.connect(run.ledger)) as db:
        db.executescript(v2_schema())
        db.execute("INSERT INTO meta VALUES ('schema_version', '2')")
        for name in ("a", "b"):
            db.execute(
                "INSERT INTO panes (name, workspace, agent, branch, worktree, metric, goal, base_commit, created_at)"
                " VALUES (?, 'ws', 'optuna', 'b', 'w', 'loss', 'min', 'c0', 0)",
                (name,),
            )
        rows = [("a", 1, "keep", 3.0), ("a", 2, "discard", 4.0), ("a", 3, "keep", 2.0), ("b", 1, "keep", 5.0)]
        for pane, seq, status, metric in rows:
            db.execute(
                "INSERT INTO experiments (pane, seq, commit_sha, status, metric, started_at, finished_at, description)"
                " VALUES (?, ?, ?, ?, ?, 0, 1, 'idea')",
                (pane, seq, f"{pane}{seq}", status, metric),
            )
        db.commit()
    reader = Ledger.reader(run.root)  # read as it is: a board without deltas
    old = Board(reader, "ws").entries()
    assert [(e.pane, e.seq, e.delta) for e in old] == [("a", 1, None), ("a", 2, None), ("a", 3, None), ("b", 1, None)]
    assert Board(reader, "ws").claims() == [] and reader.schema_version == 2
    reader.close()
    ledger = Ledger(run.ledger)
    try:
        assert ledger.schema_version == 4
        board = Board(ledger, "ws")
        assert [(e.pane, e.seq, e.previous_best, e.delta) for e in board.entries()] == [
            ("a", 1, None, None),
            ("a", 2, 3.0, 1.0),
            ("a", 3, 3.0, -1.0),
            ("b", 1, None, None),
        ]
        assert [(e.pane, e.metric) for e in board.bests("min")] == [("a", 2.0), ("b", 5.0)]
        assert all(r.change == "" and r.change_key == "" for r in ledger.experiments())
    finally:
        ledger.close()
