"""Panes that learn from each other, through the real orchestra: two optuna panes on the
analytic workspace share one study and a board, and one moves onto the other's best; an exact
repeat of a sibling's change is not run."""

from __future__ import annotations

import json
import subprocess
import sys

from conductor.agents.optuna_history import TRIALS_FILE, LoggedTrial
from conductor.config import bundled_workspaces_dir
from conductor.core.board import Board, migrations
from conductor.core.ledger import Ledger
from conductor.core.record import Status
from tests.conftest import write_config
from tests.integration.engine_helpers import ScriptedAgent, Step, check_invariants, run_orchestra


def test_two_optuna_panes_share_a_study_a_board_and_a_best(tmp_path):
    cfg = tmp_path / "conductor.toml"
    cfg.write_text(
        f'[conductor]\nslots = 2\n\n[[workspace]]\nname = "h6"\npath = "{bundled_workspaces_dir() / "hartmann6"}"\n'
        'panes = 2\nagent = { kind = "optuna" }\nmigrate_after = 2\nnoise_runs = 2\nmax_experiments = 12\n'
    )
    orch, events = run_orchestra(cfg)
    run_dir = tmp_path / ".conductor"
    ledger = Ledger(run_dir / "ledger.db")
    try:
        entries = Board(ledger, "h6").entries()
        assert {e.pane for e in entries} == {"h6-1", "h6-2"} and len(entries) == 24
        assert all(e.change.startswith("X1=") and e.change_key for e in entries)
        assert Board(ledger, "h6").claims() == []  # nothing in flight once the run is over
        # no two panes ran the same change at once
        for a in entries:
            for b in entries:
                overlap = a.pane != b.pane and not a.is_baseline and not b.is_baseline
                if overlap and a.change_key == b.change_key:
                    ra = next(r for r in ledger.experiments(a.pane) if r.seq == a.seq)
                    rb = next(r for r in ledger.experiments(b.pane) if r.seq == b.seq)
                    assert ra.finished_at <= rb.started_at or rb.finished_at <= ra.started_at
        moves = migrations(ledger)
        assert moves, "no pane moved onto its sibling's better best"
        move = moves[0]
        source = next(r for r in ledger.experiments(move.source_pane) if r.seq == move.source_seq)
        assert source.status == Status.KEEP and move.to_commit == source.commit and move.best_after < move.best_before
        rows = ledger.experiments(move.pane)
        assert all(r.status != Status.KEEP for r in rows[move.after_seq - 2 : move.after_seq])  # 2 without a keep
    finally:
        ledger.close()
    logged: dict[int, LoggedTrial] = {}  # the shared study's trial log: the last line of each trial
    for line in (run_dir / "shared" / "h6" / TRIALS_FILE).read_text().splitlines():
        t = LoggedTrial.parse(line)
        if t is not None:
            logged[t.number] = t
    trials = [t for t in logged.values() if not t.attrs.get("baseline")]
    assert {t.attrs["pane"] for t in trials} == {"h6-1", "h6-2"}
    assert len(trials) == 22 and all(t.state == "complete" for t in trials)
    params = [tuple(sorted(t.params.items())) for t in trials]
    assert len(set(params)) == len(params)  # the constant liar kept parallel proposals apart
    said = [e for e in events if e.type == "alert" and "migrated onto" in e.message]
    assert said and said[0].pane == move.pane
    assert any(e.type == "agent_activity" and "migrated onto" in e.text for e in events)
    check_invariants(run_dir)
    status = subprocess.run(
        [sys.executable, "-m", "conductor", "status", "--runs-dir", str(run_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    panes = {p["name"]: p for p in json.loads(status.stdout)["panes"]}
    assert panes[move.pane]["migrated"] == sum(m.pane == move.pane for m in moves) >= 1  # status says who moved
    board = subprocess.run(
        [sys.executable, "-m", "conductor", "status", "--runs-dir", str(run_dir), "--board"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "h6-1 #" in board.stdout and "h6-2 #" in board.stdout


def test_an_exact_repeat_of_a_siblings_change_is_not_run(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, panes=2)
    first = ScriptedAgent(
        [
            Step("move X to 2", {"train.py": {"X": "2.0"}}),
            Step("move X to 2.5", {"train.py": {"X": "2.5"}}),
            Step("move X to 2.8", {"train.py": {"X": "2.8"}}),
        ]
    )
    second = ScriptedAgent(
        [
            Step("move Y to 0", {"train.py": {"Y": "0.0"}}),
            Step("x to 2.0, y back", {"train.py": {"X": "2.0", "Y": "2.0"}}),  # the tree fast-1 ran as #2
            Step("move Y to -1", {"train.py": {"Y": "-1.0"}}),
        ]
    )
    run_orchestra(cfg, {"fast-1": first, "fast-2": second}, max_experiments=4)
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:  # the factory hands the agents out in the order the panes finish their baselines
        rows = {r.description: r for r in ledger.experiments()}
        earlier, repeat = rows["move X to 2"], rows["x to 2.0, y back"]
        assert rows["move Y to 0"].status == Status.KEEP and repeat.pane != earlier.pane
        assert repeat.status == Status.REJECTED and repeat.change_key == earlier.change_key
        assert repeat.reason.startswith(f"exact repeat of {earlier.pane} #{earlier.seq} ('move X to 2')")
        assert repeat.log_path == "" and repeat.slot == ""  # never ran
        assert rows["move Y to -1"].status == Status.KEEP  # the next idea ran on the pane's own best
    finally:
        ledger.close()
    refused = second.outcomes[1]
    assert refused.text().startswith(f"experiment #{repeat.seq}")
    assert f"Not run: exact repeat of {earlier.pane} #{earlier.seq}" in refused.text()
    assert refused.metric == earlier.metric
    check_invariants(tmp_path / ".conductor")
