"""Results you can trust: noise floor, verification, sanity gates, crash streaks, stop rules."""

from __future__ import annotations

import asyncio

from conftest import write_config
from engine_helpers import ScriptedAgent, Step, check_invariants, run_orchestra

from conductor.config import load_config
from conductor.core.commands import Resume
from conductor.core.events import Alert, PaneState
from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra


def rows_of(tmp_path, pane="fast"):
    ledger = Ledger(tmp_path / ".conductor" / "ledger.db")
    try:
        return ledger.experiments(pane), ledger
    finally:
        pass


def test_noise_floor_raises_the_bar(tmp_path, fastws):
    train = fastws / "train.py"
    train.write_text(train.read_text().replace("NOISE = 0.0", "NOISE = 0.5"))
    cfg = write_config(tmp_path, fastws, extra="noise_runs = 4\n")
    steps = [
        Step("tiny gain", edits={"train.py": {"X": "0.6"}}),  # -0.47 < 2 sd of noise
        Step("big gain", edits={"train.py": {"X": "3.0"}}),  # -6.25
    ]
    run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=3)
    rows, ledger = rows_of(tmp_path)
    spread = float(ledger.get_meta("noise_spread:fast"))
    reruns = sorted((r.seed, r.metric) for r in ledger.reruns())
    ledger.close()
    base = rows[0]
    assert base.is_baseline and len(base.summary["noise_runs"]) == 4
    assert [s for s, _ in reruns] == [1, 2, 3]
    assert spread > 0.05
    assert abs(base.metric - sum(base.summary["noise_runs"]) / 4) < 1e-9  # the baseline is the mean
    assert rows[1].status == "discard" and "within the keep threshold" in rows[1].reason
    assert rows[2].status == "keep"
    check_invariants(tmp_path / ".conductor")


def test_verification_keeps_real_gains_and_drops_lucky_seeds(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, extra="verify = 2\n")
    steps = [
        Step("lucky seed", edits={"train.py": {"MODE": '"lucky"'}}),  # -5 on seed 0 only
        Step("real gain", edits={"train.py": {"MODE": '"ok"', "X": "3.0"}}),
    ]
    orch, events = run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=3)
    rows, ledger = rows_of(tmp_path)
    ledger.close()
    assert rows[1].status == "discard" and rows[1].reason.startswith("did not hold up: mean")
    assert rows[1].summary["verify_runs"] == [11.25, 21.25, 21.25]
    assert rows[2].status == "keep" and rows[2].reason.startswith("verified: mean 10 over 3 runs")
    assert rows[2].summary["verify_runs"] == [10.0, 10.0, 10.0]
    states = [e.detail for e in events if isinstance(e, PaneState) and e.state == "verifying"]
    assert states, "the pane shows that it is verifying"
    check_invariants(tmp_path / ".conductor")


def test_sanity_gates_hold_big_and_implausible_gains(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, extra="sanity_gain = 0.5\nplausible = [5.0, 100.0]\n")
    steps = [
        Step("huge but real", edits={"train.py": {"X": "3.0", "Y": "0.0"}}),  # 16.25 -> 2.0 (88%), below 5
        Step("plausible", edits={"train.py": {"X": "2.0"}}),  # 11.0: 32% gain, no gate
    ]
    run_orchestra(cfg, {"fast": ScriptedAgent(steps)}, max_experiments=3)
    rows, ledger = rows_of(tmp_path)
    ledger.close()
    assert rows[1].status == "discard" and rows[1].reason.startswith("implausible: mean 2")
    assert len(rows[1].summary["verify_runs"]) == 3
    assert rows[2].status == "keep" and "verify_runs" not in rows[2].summary


def test_a_crash_streak_pauses_the_pane_until_resumed(tmp_path, fastws):
    cfg = load_config(write_config(tmp_path, fastws, extra="crash_limit = 2\n"))
    steps = [
        Step("crash 1", edits={"train.py": {"MODE": '"crash"'}}),
        Step("crash 2", edits={"train.py": {"MODE": '"crash"', "X": "1.0"}}),
        Step("fixed", edits={"train.py": {"MODE": '"ok"', "X": "3.0"}}),
    ]
    agent = ScriptedAgent(steps)
    orch = Orchestra(cfg, max_experiments=4, agent_factory=lambda _c: agent, telemetry=False)
    alerts = []

    def on_event(e):
        if isinstance(e, Alert) and "crashes in a row" in e.message:
            alerts.append(e)
            asyncio.get_running_loop().call_later(0.3, orch.command, Resume(pane="fast"))

    orch.bus.subscribe(on_event)
    orch.open()
    try:
        asyncio.run(asyncio.wait_for(orch.run(), 30))
    finally:
        orch.close()
    assert len(alerts) == 1
    assert "paused" in alerts[0].message and "RuntimeError: boom" in alerts[0].message
    rows, ledger = rows_of(tmp_path)
    ledger.close()
    assert [r.status for r in rows] == ["keep", "crash", "crash", "keep"]
    assert rows[3].started_at - rows[2].finished_at >= 0.25  # nothing ran while paused


class Listener(ScriptedAgent):
    """Also records what the pane tells it at turn boundaries."""

    def __init__(self, steps):
        super().__init__(steps)
        self.heard = []

    async def run(self, session):
        for step in self.steps:
            self.heard += await session.checkpoint()
            for rel, values in step.edits.items():
                from pathlib import Path

                from engine_helpers import set_constants

                p = Path(session.worktree_path) / rel
                p.write_text(set_constants(p.read_text(), values))
            self.outcomes.append(await session.run_experiment(step.description))
        await asyncio.Event().wait()


def test_plateau_alerts_and_nudges_then_target_stops(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, extra="plateau = 2\ntarget = 10.0\n")
    steps = [
        Step("worse 1", edits={"train.py": {"X": "0.0"}}),
        Step("worse 2", edits={"train.py": {"X": "-1.0"}}),
        Step("hit the target", edits={"train.py": {"X": "3.0"}}),  # 10.0
        Step("never runs", edits={"train.py": {"Y": "-1.0"}}),
    ]
    agent = Listener(steps)
    orch, events = run_orchestra(cfg, {"fast": agent})
    assert any(isinstance(e, Alert) and "plateau: no keep in 2 experiments" in e.message for e in events)
    assert any("Change direction" in m for m in agent.heard)
    done = [e for e in events if e.type == "pane_done"]
    assert done[0].reason == "target reached: score 10 (target 10)"
    rows, ledger = rows_of(tmp_path)
    ledger.close()
    assert [r.description for r in rows] == ["baseline", "worse 1", "worse 2", "hit the target"]


def test_max_hours_stops_a_pane(tmp_path, fastws):
    cfg = write_config(tmp_path, fastws, extra="max_hours = 0.0003\n")  # about a second
    train = fastws / "train.py"
    train.write_text(train.read_text().replace("SLEEP = 0.05", "SLEEP = 0.4"))
    orch, events = run_orchestra(cfg)
    done = [e for e in events if e.type == "pane_done"]
    assert done[0].reason == "reached max_hours 0.0003"
