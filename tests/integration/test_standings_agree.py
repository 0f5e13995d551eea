"""Every screen's numbers agree: the TUI's top bar and cards, `conductor status` (table and
JSON), the leaderboard and the export, on a recorded run and on a real run after a kill -9
and a restart (whose reconcile records the interrupted row the TUI must count as well)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import write_config
from engine_helpers import check_invariants, run_orchestra
from recorded_ledger import write_recorded_run
from textual.content import Content

from conductor.core import standings_checkpoint as checkpoint
from conductor.core.events import RunStarted
from conductor.core.ledger import Ledger
from conductor.core.rundir import RunDir
from conductor.core.standings_sql import standings_by_aggregates
from conductor.export import export_records, write_export
from conductor.status import pane_status, render_table
from conductor.ui import lines
from conductor.ui.bridge import Bridge
from conductor.ui.model import RunModel

HOLD = 'time.sleep(60 if os.environ.get("CONDUCTOR_HOLD") and (X, Y) != (0.5, 2.0) else SLEEP)'
COUNTS = ("keep", "discard", "crash", "rejected", "interrupted")


def plain(markup: str) -> str:
    return Content.from_markup(markup).plain


def assert_screens_agree(ledger: Ledger, model: RunModel, tmp_path: Path) -> dict:
    status = pane_status(ledger)
    board = {p["pane"]: p for p in status["leaderboard"]["panes"]}
    out = tmp_path / "export.csv"
    write_export(export_records(ledger), out)
    exported = [r for r in csv.DictReader(out.open()) if r["record"] == "experiment"]
    table = render_table(status, tmp_path).splitlines()
    now = time.time()
    for entry in status["panes"]:
        name = entry["name"]
        card = model.panes[name]
        assert card.counts == {k: entry[k] for k in COUNTS}, name
        assert card.experiments == entry["experiments"] == sum(r["pane"] == name for r in exported)
        assert (card.best, card.baseline) == (entry["best"], entry["baseline"])
        b = board[name]
        assert (b["keeps"], b["discards"], b["crashes"], b["rejected"]) == tuple(entry[k] for k in COUNTS[:4])
        assert b["experiments"] == entry["experiments"]
        mine = [r for r in exported if r["pane"] == name]
        assert sum(r["status"] == "keep" and r["is_baseline"] == "0" for r in mine) == entry["keep"]
        assert sum(r["status"] == "interrupted" for r in mine) == entry["interrupted"]
        counts = plain(lines.counts_line(card, now))
        assert counts.startswith(f"K{entry['keep']} D{entry['discard']} C{entry['crash']} R{entry['rejected']}")
        assert (f"I{entry['interrupted']}" in counts) == bool(entry["interrupted"])
        assert ("kept" in counts) == bool(entry["keep"]) and ("no keep yet" in counts) == (not entry["keep"])
        tries = [r for r in ledger.experiments(name) if not r.is_baseline and r.status != "interrupted"]
        last_keep = max((i for i, r in enumerate(tries) if r.status == "keep"), default=-1)
        assert card.since_keep == len(tries) - last_keep - 1  # "stuck: N without keep" counts from it
        row = next(line for line in table if line.startswith(name + " "))
        if entry["improvement"] is not None and b["improvement"] and entry["baseline"]:
            assert ("+" in row.split()[5]) == (b["improvement"] > 0)  # the same sign in status and board
    keeps = status["totals"]["keep"]
    assert model.total_keeps() == keeps == sum(b["keeps"] for b in board.values())
    assert f"keeps {keeps}" in plain(lines.top_line(model, now))
    return status


def test_every_screen_agrees_on_a_recorded_run(tmp_path):
    run_dir = write_recorded_run(tmp_path / "run")
    ledger = Ledger.reader(run_dir)
    try:
        model = RunModel(time.time)
        panes = tuple({"name": p.name, "metric": p.metric, "goal": p.goal} for p in ledger.panes())
        model.apply(RunStarted(run="r", run_dir=str(run_dir), panes=panes, slots=("gpu0",), ts=0.0))
        model.load_history(ledger.experiments())
        status = assert_screens_agree(ledger, model, tmp_path)
        assert status["totals"]["keep"] == 6  # baselines are no keeps
    finally:
        ledger.close()


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "the run never got there"
        time.sleep(0.05)


def test_every_screen_agrees_after_a_kill_9_and_a_restart(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, panes=2)
    train, spec = fastws / "train.py", fastws / "workspace.toml"
    # the first start's experiments after the baseline hold until conductor is killed; the restart's do not
    train.write_text(train.read_text().replace("time.sleep(SLEEP)", HOLD))
    spec.write_text(spec.read_text().replace('run = "python train.py"', 'run = "env CONDUCTOR_HOLD=1 python train.py"'))
    run_dir = tmp_path / ".conductor"
    proc = subprocess.Popen(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def holding() -> bool:  # an experiment after a baseline runs: its log has started, its pid file is written
        panes = {p.parent.name for p in (run_dir / "logs").glob("*/0002-*.log")}
        return any(RunDir(run_dir).pidfile(name).exists() for name in panes)

    try:
        _wait_for(holding)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    spec.write_text(spec.read_text().replace("env CONDUCTOR_HOLD=1 ", ""))
    model = RunModel(time.time)
    holder: dict = {}

    def history(_event: RunStarted) -> None:  # as the app does, at once: before any pane reconciles
        model.load_history(holder["ledger"].experiments())

    bridge = Bridge(model, history)

    def feed(event) -> None:
        bridge(event)
        bridge.drain()

    run_orchestra(cfg, max_experiments=3, subscribe=feed, on_open=lambda orch: holder.update(ledger=orch.ledger))
    check_invariants(run_dir)
    ledger = Ledger.reader(run_dir)
    try:
        status = assert_screens_agree(ledger, model, tmp_path)
        interrupted = [r for r in ledger.experiments() if r.status == "interrupted"]
        assert status["totals"]["interrupted"] == len(interrupted) == 1
        row = interrupted[0]
        assert row.log_path and Path(row.log_path).is_file()  # the zoom shows the log the run wrote
        assert row.duration_s == 0.0  # its start is unknown: no duration counted from the restart
        fold = checkpoint.saved(ledger)  # the stop saved the standings folded over every row
        assert fold is not None and fold.exp_id == ledger.select("SELECT MAX(id) FROM experiments")[0][0]
        panes = ledger.panes()
        fold, pending = checkpoint.carried_on(ledger, fold, panes)
        by_fold = checkpoint.standings(fold, panes, pending)
        assert [(s.total.keeps, s.total.best) for s in by_fold] == [
            (s.total.keeps, s.total.best) for s in standings_by_aggregates(ledger)
        ]
    finally:
        ledger.close()
