"""Honest affordances: an external agent's pane is measured against the unmodified HEAD even
when its first experiment changes the code, and an agent that cannot read the researcher's
messages or program.md edits says so instead of accepting them."""

from __future__ import annotations

from conftest import write_config
from engine_helpers import ScriptedAgent, Step, check_invariants, run_orchestra

from conductor.core.commands import ReloadProgram, Say
from conductor.core.events import AgentActivity, RunStarted
from conductor.core.ledger import Ledger


def test_an_external_agents_first_change_gets_the_baseline_run_before_it(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws)
    cfg.write_text(
        cfg.read_text().replace('agent = { kind = "optuna" }', 'agent = { kind = "command", command = "true" }')
    )
    agent = ScriptedAgent([Step("move X to 1", edits={"train.py": {"X": "1.0"}})])
    run_orchestra(cfg, {"fast": agent}, max_experiments=2)
    ledger = Ledger.reader(tmp_path / ".conductor")
    try:
        rows = ledger.experiments("fast")
        base = ledger.pane("fast").base_commit
    finally:
        ledger.close()
    assert [(r.description, r.is_baseline) for r in rows] == [("baseline", True), ("move X to 1", False)]
    assert rows[0].commit == base and rows[0].metric is not None  # the unmodified HEAD
    assert rows[1].parent == base and rows[1].metric != rows[0].metric  # the change itself ran
    check_invariants(tmp_path / ".conductor")


def test_an_optuna_pane_says_it_cannot_read_messages_and_what_of_program_edits_it_follows(tmp_path, fastws):
    """The TUI says so before sending (tests/ui/test_keys.py); a request that comes anyway (a
    socket client) is kept in the ledger and answered with the same line, never dropped silently."""
    cfg = write_config(tmp_path, fastws)
    seen: dict = {"lines": []}

    def watch(event) -> None:
        if isinstance(event, RunStarted):
            seen["info"] = event.panes[0]
            seen["orch"].command(Say(pane="fast", text="try a lower lr"))
            seen["orch"].command(ReloadProgram(pane="fast"))
        elif isinstance(event, AgentActivity):
            seen["lines"].append(event.text)

    run_orchestra(cfg, max_experiments=1, subscribe=watch, on_open=lambda orch: seen.update(orch=orch))
    assert seen["info"]["follows_researcher"] is False
    cannot = "fast's optuna agent cannot read messages: it searches the workspace's knobs only"
    assert cannot in seen["lines"]
    assert "program.md changed; the optuna agent follows its search section from its next trial" in seen["lines"]


BURN = """
if X == 0.5:  # the baseline computes for its whole budget
    _end = time.process_time() + 2.2
    while time.process_time() < _end:
        pass
else:  # the experiment waits as a run starved of CPU would
    time.sleep(2.2)
"""


def test_a_starved_run_is_marked_and_not_kept_on_its_own(tmp_path, fastws):
    train = fastws / "train.py"
    train.write_text(train.read_text().replace("time.sleep(SLEEP)\n", BURN))
    cfg = write_config(tmp_path, fastws)
    agent = ScriptedAgent([Step("move X to 1", edits={"train.py": {"X": "1.0"}})])
    run_orchestra(cfg, {"fast": agent}, max_experiments=2)
    ledger = Ledger.reader(tmp_path / ".conductor")
    try:
        base, tried = ledger.experiments("fast")
        reruns = ledger.reruns("fast")
    finally:
        ledger.close()
    assert base.cpu_share > 0.3 and not base.starved
    assert tried.starved and tried.cpu_share < 0.5 * base.cpu_share
    assert tried.reason.startswith("starved: its run got") and "verified" in tried.reason  # re-run before kept
    assert len(tried.summary["verify_runs"]) == 2 and [r.commit for r in reruns] == [tried.commit]  # verify = 0
