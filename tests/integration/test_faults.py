"""Fault injection: experiments that misbehave in every way; the loop survives them all."""

from __future__ import annotations

from conftest import write_config
from engine_helpers import ScriptedAgent, Step, check_invariants, leftover_processes, run_orchestra

from conductor.core.ledger import Ledger


def test_misbehaving_experiments(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, extra="timeout_s = 20\n")
    steps = [
        Step("forks a daemon", edits={"train.py": {"MODE": '"daemon"', "X": "1.0"}}),
        Step("prints 200 MB", edits={"train.py": {"MODE": '"bigoutput"', "X": "1.5"}}),
        Step("prints invalid utf-8", edits={"train.py": {"MODE": '"badutf8"', "X": "2.0"}}),
        Step("deletes results.tsv", edits={"train.py": {"MODE": '"deltsv"', "X": "2.5"}}),
    ]
    run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=5)
    run_dir = tmp_path / ".conductor"
    ledger = Ledger(run_dir / "ledger.db")
    rows = ledger.experiments("fast")
    ledger.close()
    assert [(r.description, r.status) for r in rows[1:]] == [
        ("forks a daemon", "keep"),
        ("prints 200 MB", "keep"),
        ("prints invalid utf-8", "keep"),
        ("deletes results.tsv", "keep"),
    ]
    assert [r.metric for r in rows[1:]] == [14.0, 12.25, 11.0, 10.25]
    big = [r for r in rows if r.description == "prints 200 MB"][0]
    from pathlib import Path

    assert Path(big.log_path).stat().st_size > 200 * 2**20
    # the daemon left the process group, but carried the experiment's tag: it is gone
    assert leftover_processes(run_dir) == []
    # results.tsv was deleted mid-run and rebuilt whole from the ledger
    check_invariants(run_dir)
