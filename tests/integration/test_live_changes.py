"""A live run changed over its control socket with `conductor live`: pause and resume all, a
limit, a pane added and one removed; the changes are saved and a resume keeps them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from conftest import write_config

from conductor.agents.base import create_agent
from conductor.config import load_config
from conductor.core.events import ExperimentFinished, PaneState, RunStarted
from conductor.core.ledger import Ledger
from conductor.core.orchestra import Orchestra


def live(run_dir, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "conductor", "live", *args, "--runs-dir", str(run_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_live_changes_over_the_socket(tmp_path, fastws):
    cfg_path = write_config(tmp_path, fastws, panes=2, extra="max_experiments = 3\n")
    orch = Orchestra(load_config(cfg_path), agent_factory=create_agent)
    events = []
    orch.bus.subscribe(events.append)
    run_dir = tmp_path / ".conductor"
    answers = {}

    async def steer():
        while not any(isinstance(e, ExperimentFinished) for e in events):
            await asyncio.sleep(0.05)
        for step in (
            ("pause-all",),
            ("set", "max_experiments", "5", "--workspace", "fast"),
            ("set", "max_usd", "nope"),
            ("set", "metric", "3"),
            ("add-pane", "nowhere"),
            ("add-pane", "fast"),
            ("remove-pane", "fast-2"),
            ("resume-all",),
        ):
            answers[step[0] + (step[1] if len(step) > 1 else "")] = await asyncio.to_thread(live, run_dir, *step)

    async def main():
        orch.open()
        steering = asyncio.create_task(steer())
        await orch.run()
        await steering

    try:
        asyncio.run(main())
    finally:
        orch.close()
    assert answers["pause-all"].returncode == 0 and "paused 2 pane(s)" in answers["pause-all"].stdout
    assert "max_experiments of workspace fast is now 5" in answers["setmax_experiments"].stdout
    assert answers["setmax_usd"].returncode == 2 and "a number or none" in answers["setmax_usd"].stderr
    assert (
        answers["setmetric"].returncode == 2
        and "'metric' cannot be changed on a live run" in answers["setmetric"].stderr
    )
    assert (
        answers["add-panenowhere"].returncode == 2
        and "no workspace named 'nowhere'" in answers["add-panenowhere"].stderr
    )
    assert answers["add-panefast"].stdout.strip() == "added pane fast-3"
    assert answers["remove-panefast-2"].returncode == 0 and "resumed" in answers["resume-all"].stdout
    assert any(isinstance(e, PaneState) and e.pane == "fast-1" and e.state == "paused" for e in events)
    assert [p["name"] for p in [e for e in events if isinstance(e, RunStarted)][-1].panes] == [
        "fast-1",
        "fast-2",
        "fast-3",
    ]
    ledger = Ledger(run_dir / "ledger.db", readonly=True)
    try:
        counts = {p: ledger.experiment_count(p) for p in ("fast-1", "fast-2", "fast-3")}
        assert json.loads(ledger.get_meta("removed_panes")) == ["fast-2"]
    finally:
        ledger.close()
    assert counts["fast-1"] == 5 and counts["fast-3"] == 5 and counts["fast-2"] < 5
    saved = load_config(run_dir / "conductor.toml")
    assert saved.workspaces[0].panes == 3 and saved.workspaces[0].max_experiments == 5

    resumed = subprocess.run(
        [sys.executable, "-m", "conductor", "run", "-c", str(cfg_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    started = json.loads(resumed.stdout.splitlines()[0])
    assert [p["name"] for p in started["panes"]] == ["fast-1", "fast-3"]  # fast-2 stays removed
